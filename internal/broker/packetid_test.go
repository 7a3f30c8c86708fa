package broker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// rawClient speaks MQTT 3.1.1 packet by packet, choosing its own packet
// ids, as paho and mosquitto clients do (they number from 1).
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// rawPacket is one packet read: its type (the fixed header's high
// nibble), flags and body.
type rawPacket struct {
	kind, flags byte
	body        []byte
}

func (p rawPacket) id() uint16 { return binary.BigEndian.Uint16(p.body) }

func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

func dialRaw(t *testing.T, addr, clientID string, clean bool) (*rawClient, rawPacket) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	body := append(mqttString("MQTT"), 4, flags, 0, 60)
	c.send(0x10, append(body, mqttString(clientID)...))
	ack := c.read()
	if ack.kind != 2 || len(ack.body) != 2 || ack.body[1] != 0 {
		t.Fatalf("connect as %s: %+v", clientID, ack)
	}
	return c, ack
}

func (c *rawClient) send(header byte, body []byte) {
	c.t.Helper()
	pk := []byte{header}
	for n := len(body); ; {
		b := byte(n % 128)
		if n /= 128; n > 0 {
			b |= 0x80
		}
		pk = append(pk, b)
		if n == 0 {
			break
		}
	}
	if _, err := c.conn.Write(append(pk, body...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() rawPacket {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second)) // a guard against a hang
	h, err := c.r.ReadByte()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	n, mul := 0, 1
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		n += int(b&0x7f) * mul
		if mul *= 128; b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return rawPacket{kind: h >> 4, flags: h & 0x0f, body: body}
}

func idBytes(id uint16) []byte { return []byte{byte(id >> 8), byte(id)} }

func (c *rawClient) subscribe(id uint16, filter string) rawPacket {
	c.t.Helper()
	c.send(0x82, append(append(idBytes(id), mqttString(filter)...), 1))
	return c.read()
}

func (c *rawClient) publishQoS1(id uint16, topic, payload string) {
	c.send(0x32, append(append(mqttString(topic), idBytes(id)...), payload...))
}

// nextIsPong checks that nothing is waiting for the client: a PINGREQ's
// answer comes first.
func (c *rawClient) nextIsPong(what string) {
	c.t.Helper()
	c.send(0xC0, nil)
	if p := c.read(); p.kind != 13 {
		c.t.Fatalf("%s: got packet type %d (%q), want PINGRESP", what, p.kind, p.body)
	}
}

// publishedPayload returns a PUBLISH's topic and payload (QoS 1: after
// the id).
func publishedPayload(p rawPacket) (topic, payload string) {
	n := int(binary.BigEndian.Uint16(p.body))
	return string(p.body[2 : 2+n]), string(p.body[2+n+2:])
}

// waitGone waits until the broker has seen client id's connection end.
func waitGone(t *testing.T, b *Broker, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // a guard against a hang
	for {
		if cl, ok := b.Server().Clients.Get(id); ok && cl.Closed() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not notice %s leave", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queuedForOfflineClient starts a broker, makes a persistent session for
// "nr" subscribed to t at QoS 1, queues one message for it while it is
// away, and reconnects it: the broker resends the queued message at once,
// under the id nr's client would give its own next packet.
func queuedForOfflineClient(t *testing.T) (b *Broker, nr *rawClient, queued rawPacket) {
	t.Helper()
	b, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	first, _ := dialRaw(t, b.Addr(), "nr", false)
	if ack := first.subscribe(1, "t"); ack.kind != 9 || ack.body[2] != 1 {
		t.Fatalf("first subscription: %+v", ack)
	}
	first.send(0xE0, nil) // DISCONNECT: the session stays
	first.conn.Close()
	waitGone(t, b, "nr")
	pub, _ := dialRaw(t, b.Addr(), "pub", true)
	pub.publishQoS1(1, "t", "queued while away")
	if ack := pub.read(); ack.kind != 4 {
		t.Fatalf("publisher's PUBACK: %+v", ack)
	}
	nr, ack := dialRaw(t, b.Addr(), "nr", false)
	if ack.body[0] != 1 {
		t.Fatalf("session not present: %+v", ack)
	}
	queued = nr.read()
	if topic, payload := publishedPayload(queued); queued.kind != 3 || topic != "t" || payload != "queued while away" {
		t.Fatalf("resent queued message: %+v", queued)
	}
	return b, nr, queued
}

// A client subscribing with the id of a message the broker is resending
// to it gets its subscription (mochi refused it with 0x91, which MQTT
// 3.1.1 does not even have), and its PUBACK of that message completes it:
// a later connection is not sent it again.
func TestPacketIDs_SubscribeWithTheIDOfAQueuedMessage(t *testing.T) {
	b, nr, queued := queuedForOfflineClient(t)
	ack := nr.subscribe(queued.id(), "u")
	if ack.kind != 9 || ack.id() != queued.id() || len(ack.body) != 3 || ack.body[2] != 1 {
		t.Fatalf("SUBACK %+v, want id %d granting QoS 1", ack, queued.id())
	}
	nr.send(0x40, idBytes(queued.id())) // PUBACK of the queued message
	nr.nextIsPong("after the PUBACK")
	nr.send(0xE0, nil)
	nr.conn.Close()

	again, _ := dialRaw(t, b.Addr(), "nr", false)
	again.nextIsPong("the next connection (the message was acknowledged)")
	pub, _ := dialRaw(t, b.Addr(), "pub2", true)
	pub.publishQoS1(1, "u", "on the new subscription")
	if p := again.read(); p.kind != 3 {
		t.Fatalf("no message on the new subscription: %+v", p)
	} else if topic, _ := publishedPayload(p); topic != "u" {
		t.Fatalf("message on %q, want u", topic)
	}
}

// A client publishing at QoS 1 with the id of a message the broker is
// resending to it does not delete that message: unacknowledged, it comes
// again at the next connection (mochi dropped it, lost for good).
func TestPacketIDs_PublishWithTheIDOfAQueuedMessage(t *testing.T) {
	b, nr, queued := queuedForOfflineClient(t)
	nr.publishQoS1(queued.id(), "elsewhere", "the client's own")
	if ack := nr.read(); ack.kind != 4 || ack.id() != queued.id() {
		t.Fatalf("PUBACK of the client's publish: %+v", ack)
	}
	nr.send(0xE0, nil) // leaves without acknowledging the queued message
	nr.conn.Close()

	waitGone(t, b, "nr")
	again, _ := dialRaw(t, b.Addr(), "nr", false)
	p := again.read()
	if topic, payload := publishedPayload(p); p.kind != 3 || topic != "t" || payload != "queued while away" {
		t.Fatalf("after reconnecting: %+v, want the queued message again", p)
	}
	if p.flags&0x08 == 0 {
		t.Errorf("the message sent again is not marked DUP")
	}
	again.send(0x40, idBytes(p.id()))
	again.nextIsPong(fmt.Sprintf("after acknowledging id %d", p.id()))
}
