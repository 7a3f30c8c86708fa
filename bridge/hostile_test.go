package bridge

import (
	"bytes"
	"testing"
)

// pahoMessage is a received MQTT message as paho hands it over.
type pahoMessage struct {
	topic    string
	payload  []byte
	retained bool
}

func (m pahoMessage) Duplicate() bool   { return false }
func (m pahoMessage) Qos() byte         { return 1 }
func (m pahoMessage) Retained() bool    { return m.retained }
func (m pahoMessage) Topic() string     { return m.topic }
func (m pahoMessage) MessageID() uint16 { return 1 }
func (m pahoMessage) Payload() []byte   { return m.payload }
func (m pahoMessage) Ack()              {}

// A burst of huge commands while the run loop is busy must not pile up
// megabytes per queued message: the queue keeps at most maxPayload+1 bytes
// of each (enough to refuse it, with its real size).
func TestHugeMessagesAreNotQueuedWhole(t *testing.T) {
	b, err := New(Options{MQTT: MQTTOptions{Server: "mqtt://127.0.0.1:1883", ClientID: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("O"), 1<<20)
	for range 100 {
		b.onMessage(nil, pahoMessage{topic: "kasa2mqtt/lamp/set", payload: huge})
	}
	for len(b.msgs) > 0 {
		m := <-b.msgs
		if m.size != len(huge) || len(m.payload) != maxPayload+1 || cap(m.payload) > 2*maxPayload {
			t.Fatalf("queued %d bytes (capacity %d) of size %d, want %d bytes of size %d",
				len(m.payload), cap(m.payload), m.size, maxPayload+1, len(huge))
		}
	}
	// A small payload is queued whole.
	b.onMessage(nil, pahoMessage{topic: "kasa2mqtt/lamp/set", payload: []byte("ON")})
	if m := <-b.msgs; string(m.payload) != "ON" || m.size != 2 {
		t.Errorf("queued %q (size %d), want ON", m.payload, m.size)
	}
}
