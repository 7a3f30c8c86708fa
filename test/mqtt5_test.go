package test

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// MQTT 5 clients (Node-RED 4, MQTT.js 5, mosquitto_pub -V mqttv5) against
// the daemon, on its embedded broker and on Mosquitto.
//
// The embedded broker runs inside the daemon here, in this process. The
// clients of these tests therefore subscribe to exact topics only: mochi
// v2.7.9 reads a retained message's path unlocked while a wildcard
// subscription scans them (see harness_test.go), which the race detector
// would report as our failure.

// newEmbeddedHarness is a harness whose daemon runs its own embedded
// broker (mqtt.server empty) with persistence in the state directory. It
// has no broker process and no recorder; use v5 clients on embeddedAddr.
func newEmbeddedHarness(t *testing.T) *harness {
	t.Helper()
	checkGoroutines(t)
	takeDaemonSlot(t)
	h := &harness{t: t, stateDir: t.TempDir()}
	checkSecrets(h)
	h.fake = kasatest.NewServer()
	t.Cleanup(h.fake.Close)
	h.fake.AddAccount(user, password)
	h.cfg = h.testConfig()
	h.cfg.MQTT.Embedded.Listen = freeAddr(t)
	return h
}

func (h *harness) embeddedAddr() string { return h.cfg.MQTT.Embedded.Listen }

// startEmbedded starts the daemon and waits until its broker listens.
func (h *harness) startEmbedded() {
	h.t.Helper()
	h.start()
	eventually(h.t, "the embedded broker listens on "+h.embeddedAddr(), func() bool {
		c, err := net.Dial("tcp", h.embeddedAddr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// v5client is an MQTT 5 client (eclipse/paho.golang) that remembers every
// message it receives.
type v5client struct {
	t    *testing.T
	c    *paho5.Client
	conn net.Conn
	ack  *paho5.Connack

	mu   sync.Mutex
	msgs []*paho5.Publish
}

// dialV5 connects as id. sessionExpiry > 0 with clean false resumes (or
// starts) a persistent session, as Node-RED does with "clean session" off.
func dialV5(t *testing.T, addr, id string, clean bool, sessionExpiry uint32) *v5client {
	t.Helper()
	cp := &paho5.Connect{ClientID: id, KeepAlive: 30, CleanStart: clean}
	if sessionExpiry > 0 {
		cp.Properties = &paho5.ConnectProperties{SessionExpiryInterval: &sessionExpiry}
	}
	return dialV5Connect(t, addr, cp)
}

// dialV5Connect connects with the given CONNECT packet.
func dialV5Connect(t *testing.T, addr string, cp *paho5.Connect) *v5client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	v := &v5client{t: t, conn: conn}
	v.c = paho5.NewClient(paho5.ClientConfig{
		ClientID: cp.ClientID,
		Conn:     conn,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			v.mu.Lock()
			v.msgs = append(v.msgs, pr.Packet)
			v.mu.Unlock()
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := v.c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		t.Fatalf("MQTT 5 connect as %s: %v", cp.ClientID, err)
	}
	v.ack = ack
	t.Cleanup(v.close)
	return v
}

func (v *v5client) close() {
	_ = v.c.Disconnect(&paho5.Disconnect{ReasonCode: 0})
	select {
	case <-v.c.Done():
	case <-time.After(5 * time.Second):
	}
	v.conn.Close()
}

func (v *v5client) subscribe(topics ...string) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub := &paho5.Subscribe{}
	for _, tp := range topics {
		if strings.ContainsAny(tp, "+#") {
			v.t.Fatalf("subscribe to exact topics only (got %q)", tp)
		}
		sub.Subscriptions = append(sub.Subscriptions, paho5.SubscribeOptions{Topic: tp, QoS: 1})
	}
	if _, err := v.c.Subscribe(ctx, sub); err != nil {
		v.t.Fatalf("subscribe %v: %v", topics, err)
	}
}

func (v *v5client) publish(topic string, payload []byte, retain bool, props *paho5.PublishProperties) *paho5.PublishResponse {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := v.c.Publish(ctx, &paho5.Publish{QoS: 1, Topic: topic, Payload: payload, Retain: retain, Properties: props})
	if err != nil {
		v.t.Fatalf("MQTT 5 publish on %s: %v", topic, err)
	}
	return resp
}

// mark returns the index to pass to waitMsg to see only newer messages.
func (v *v5client) mark() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.msgs)
}

// waitMsg waits for a message on topic at index >= from whose payload
// contains want.
func (v *v5client) waitMsg(from int, topic, want string) *paho5.Publish {
	v.t.Helper()
	var found *paho5.Publish
	eventually(v.t, "a message on "+topic+" containing "+want, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, m := range v.msgs[from:] {
			if m.Topic == topic && bytes.Contains(m.Payload, []byte(want)) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// count returns how many messages arrived on topic at index >= from.
func (v *v5client) count(from int, topic string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, m := range v.msgs[from:] {
		if m.Topic == topic {
			n++
		}
	}
	return n
}

// checkPuback fails unless resp is a PUBACK an MQTT 5 client accepts as
// success: reason 0x00 or 0x10 (no matching subscribers), and none of the
// publisher's user properties echoed.
func checkPuback(t *testing.T, what string, resp *paho5.PublishResponse) {
	t.Helper()
	if resp.ReasonCode != 0x00 && resp.ReasonCode != 0x10 {
		t.Errorf("%s: PUBACK reason code 0x%02x, want 0x00 (success) or 0x10", what, resp.ReasonCode)
	}
	if resp.Properties != nil && len(resp.Properties.User) > 0 {
		t.Errorf("%s: PUBACK echoes the publisher's user properties %v", what, resp.Properties.User)
	}
}

// mqtt5Setup starts the daemon with one plug on the given broker kind and
// returns it with the address MQTT 5 clients use.
func mqtt5Setup(t *testing.T, kind string) (h *harness, addr, lamp string) {
	t.Helper()
	if kind == "mochi" {
		h = newEmbeddedHarness(t)
		addr = h.embeddedAddr()
	} else {
		h = newHarness(t, kind)
		addr = h.broker.addr
	}
	lamp = h.fake.AddPlug(user, "Living Room Lamp", "HS103(US)")
	if kind == "mochi" {
		h.startEmbedded()
	} else {
		h.start()
	}
	return h, addr, lamp
}

// TestMQTT5CommandsAppliedOnce: an MQTT 5 client publishes commands and a
// bridge request with QoS 1, user properties, a response topic and
// correlation data. Each gets a valid PUBACK, each command is applied in
// the cloud exactly once and the request is answered exactly once (an
// invalid PUBACK makes MQTT.js reconnect and resend). The retained state
// reaches the MQTT 5 client without a message expiry the bridge never set.
func TestMQTT5CommandsAppliedOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range brokerKinds(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h, addr, lamp := mqtt5Setup(t, kind)
			state := base + "/living_room_lamp"
			c := dialV5(t, addr, "node-red-flows", true, 0)
			c.subscribe(state, base+"/bridge/response/health_check", base+"/bridge/response/device/refresh")
			st := c.waitMsg(0, state, `"state":"OFF"`)
			if st.Properties != nil && st.Properties.MessageExpiry != nil {
				t.Errorf("the retained state carries a message expiry of %d s", *st.Properties.MessageExpiry)
			}

			props := func(n string) *paho5.PublishProperties {
				return &paho5.PublishProperties{
					User:            paho5.UserProperties{{Key: "flow", Value: "kitchen"}, {Key: "msgid", Value: n}},
					ResponseTopic:   "node-red/replies",
					CorrelationData: []byte("corr-" + n),
				}
			}
			for i, step := range []struct{ cmd, want string }{
				{"TOGGLE", `"state":"ON"`},
				{`{"state":"OFF"}`, `"state":"OFF"`},
				{"TOGGLE", `"state":"ON"`},
			} {
				from := c.mark()
				resp := c.publish(state+"/set", []byte(step.cmd), false, props(step.cmd))
				checkPuback(t, step.cmd, resp)
				c.waitMsg(from, state, step.want)
				if got := len(h.fake.RelayHistory(lamp)); got != i+1 {
					t.Fatalf("after command %d (%s) the cloud applied %d commands", i+1, step.cmd, got)
				}
			}
			from := c.mark()
			resp := c.publish(base+"/bridge/request/health_check", []byte(`{"transaction":"nr-1"}`), false, props("req"))
			checkPuback(t, "bridge request", resp)
			c.waitMsg(from, base+"/bridge/response/health_check", `"nr-1"`)

			// A repeat (a command or the request delivered twice) would
			// reach the daemon before a later message of the same client
			// (a broker keeps a publisher's order per subscriber), and a
			// refresh is queued behind the lamp's commands: once the
			// refresh is answered, every repeat has been applied or
			// answered.
			barrier := c.mark()
			resp = c.publish(base+"/bridge/request/device/refresh", []byte(`{"topic":"living_room_lamp","transaction":"nr-2"}`), false, props("refresh"))
			checkPuback(t, "refresh request", resp)
			c.waitMsg(barrier, base+"/bridge/response/device/refresh", `"nr-2"`)
			if got := h.fake.RelayHistory(lamp); !slices.Equal(got, []bool{true, false, true}) {
				t.Errorf("relay commands applied in the cloud: %v, want [true false true] (each once)", got)
			}
			if n := c.count(from, base+"/bridge/response/health_check"); n != 1 {
				t.Errorf("the bridge request was answered %d times, want 1", n)
			}
		})
	}
}
