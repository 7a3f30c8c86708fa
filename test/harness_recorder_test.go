package test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

type msg struct {
	topic    string
	payload  string
	retained bool
	at       time.Time
}

// recorder subscribes to everything and remembers every message.
type recorder struct {
	t      *testing.T
	client paho.Client
	id     string
	mu     sync.Mutex
	msgs   []msg
	wake   chan struct{}
}

var recorderSeq atomic.Int64

func newRecorder(t *testing.T, brokerURL string) *recorder {
	t.Helper()
	r := &recorder{t: t, wake: make(chan struct{}, 1), id: fmt.Sprintf("recorder-%d-%d", time.Now().UnixNano(), recorderSeq.Add(1))}
	opts := paho.NewClientOptions().AddBroker(strings.Replace(brokerURL, "mqtt://", "tcp://", 1)).
		SetClientID(r.id).SetStore(copyingStore{paho.NewMemoryStore()}).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(true).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
				r.mu.Lock()
				r.msgs = append(r.msgs, msg{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained(), at: time.Now()})
				r.mu.Unlock()
				select {
				case r.wake <- struct{}{}:
				default:
				}
			})
		})
	r.client = paho.NewClient(opts)
	if tok := r.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder connect: %v", tok.Error())
	}
	t.Cleanup(func() { r.client.Disconnect(100) })
	return r
}

// copyingStore is paho's memory store, except that a stored PUBLISH is
// copied on the way in and out. The recorder reconnects by itself (paho's
// auto-reconnect), which in paho.mqtt.golang v1.5.1 races
// (eclipse-paho/paho.mqtt.golang#703): a QoS 1 message published as the
// connection drops is both queued and stored as one object, and the
// reconnect sets the stored one's DUP flag while the new connection writes
// the queued one. With copies they are two objects (the message may go out
// twice, which QoS 1 allows). The bridge is not affected: it reconnects
// itself with a clean session, and paho empties the store at each connect.
type copyingStore struct{ *paho.MemoryStore }

func (s copyingStore) Put(key string, m packets.ControlPacket) { s.MemoryStore.Put(key, copyOf(m)) }

func (s copyingStore) Get(key string) packets.ControlPacket { return copyOf(s.MemoryStore.Get(key)) }

// copyOf returns a copy of a PUBLISH (sharing the payload, which nothing
// writes) and any other packet as it is.
func copyOf(m packets.ControlPacket) packets.ControlPacket {
	if p, ok := m.(*packets.PublishPacket); ok && p != nil {
		c := *p
		return &c
	}
	return m
}

func (r *recorder) publish(topic, payload string, retained bool) {
	r.t.Helper()
	tok := r.client.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		r.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// mark returns the index to pass to waitMsg to see only newer messages.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitMsg waits for a message on topic, received at index >= from, whose
// payload satisfies ok, and returns it.
func (r *recorder) waitMsg(from int, topic string, ok func(payload string) bool) msg {
	r.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		r.mu.Lock()
		for i := from; i < len(r.msgs); i++ {
			if m := r.msgs[i]; m.topic == topic && (ok == nil || ok(m.payload)) {
				r.mu.Unlock()
				return m
			}
		}
		var last string
		for i := len(r.msgs) - 1; i >= 0; i-- {
			if r.msgs[i].topic == topic {
				last = r.msgs[i].payload
				break
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			r.t.Fatalf("no matching message on %s within %s (last payload: %q)", topic, waitFor, last)
		}
		select {
		case <-r.wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sync returns once the recorder has received everything the broker sent
// it before now: it publishes a marker of its own (again every 100ms until
// its subscription is in place) and waits for it to come back. Retained
// messages reach a new subscriber before anything published after it
// subscribed, so after sync a recorder has seen everything retained.
func (r *recorder) sync() {
	r.t.Helper()
	marker := fmt.Sprintf("kasa2mqtt-test/sync/%s/%d", r.id, recorderSeq.Add(1))
	deadline := time.Now().Add(waitFor)
	for {
		from := r.mark()
		r.publish(marker, "", false)
		for wait := time.Now().Add(100 * time.Millisecond); time.Now().Before(wait); {
			if r.count(from, marker) > 0 {
				return
			}
			select {
			case <-r.wake:
			case <-time.After(10 * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the recorder's own marker did not come back within %s", waitFor)
		}
	}
}

// count returns how many messages arrived on topic at index >= from.
func (r *recorder) count(from int, topic string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := from; i < len(r.msgs); i++ {
		if r.msgs[i].topic == topic {
			n++
		}
	}
	return n
}

// all returns a copy of every message so far.
func (r *recorder) all() []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg(nil), r.msgs...)
}

func contains(sub string) func(string) bool {
	return func(p string) bool { return strings.Contains(p, sub) }
}
