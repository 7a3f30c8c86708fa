package bridge

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// message is one outgoing MQTT publication.
type message struct {
	topic    string
	payload  []byte
	retained bool
	// removal, on a device's discovery message, is handed back once the
	// broker acknowledged the message (outbox.sent).
	removal *removal
}

// outbox queues publications for one goroutine that owns the paho client's
// publish side. Retained messages to the same topic are coalesced (only the
// newest is sent, at the position of the first), so a slow or absent broker
// costs memory bounded by the number of topics. A clear (empty retained
// payload) that replaces a queued message moves to the end of the queue
// instead: it must follow what was queued before it (the new discovery
// that moves Home Assistant's entities off a topic goes before the clear
// of that topic). Non-retained messages are queued as they come, up to
// maxQueue.
//
// put never blocks; run publishes until ctx ends.
type outbox struct {
	log    *zap.Logger
	client paho.Client
	// ready reports whether publishing makes sense now: connected and
	// subscribed (the replay that follows every subscribe covers the rest).
	ready func() bool
	// sent, when set, is called (on the outbox's goroutine) for every
	// publication the broker acked.
	sent func(m message)
	// maxPacket is the largest packet the broker takes (0: unknown);
	// tooBig the topics already refused for it (logged once each).
	maxPacket int
	tooBig    map[string]bool

	mu      sync.Mutex
	queue   []string           // keys in send order
	pending map[string]message // key -> newest message
	seq     uint64             // makes non-retained keys unique
	peak    int                // the longest the queue was since it was last empty
	wake    chan struct{}
}

const (
	maxQueue = 100_000
	// shrinkAbove is the queue length above which a drained queue's
	// storage is given back.
	shrinkAbove    = 1024
	publishTimeout = 5 * time.Second
	// packetOverhead bounds a PUBLISH packet's bytes besides topic and
	// payload (fixed header, lengths, packet id, MQTT 5 properties).
	packetOverhead = 32
	// maxTopicLen is the longest topic MQTT can carry (a 16-bit length);
	// paho would cut a longer one, publishing elsewhere or invalid UTF-8.
	maxTopicLen = 65535
)

func newOutbox(client paho.Client, ready func() bool, log *zap.Logger) *outbox {
	return &outbox{client: client, ready: ready, log: log, pending: map[string]message{}, wake: make(chan struct{}, 1)}
}

// put queues m. When the queue is full the message is dropped with a warning
// (the next replay republishes every retained topic).
func (o *outbox) put(m message) {
	if len(m.topic) > maxTopicLen {
		o.log.Warn("topic longer than MQTT allows, dropping message", zap.Int("length", len(m.topic)), zap.String(keyTopic, m.topic[:200]+"…"))
		return
	}
	o.mu.Lock()
	if size := len(m.topic) + len(m.payload) + packetOverhead; o.maxPacket > 0 && size > o.maxPacket {
		first := !o.tooBig[m.topic]
		if o.tooBig == nil {
			o.tooBig = map[string]bool{}
		}
		o.tooBig[m.topic] = true
		o.mu.Unlock()
		if first {
			o.log.Error("message larger than the broker accepts, not published (raise mqtt.embedded.max_packet_size)",
				zap.String(keyTopic, m.topic), zap.Int("bytes", size), zap.Int("max_packet_size", o.maxPacket))
		}
		return
	}
	key := m.topic
	if !m.retained {
		o.seq++
		key = "\x00" + strconv.FormatUint(o.seq, 10)
	}
	if _, ok := o.pending[key]; !ok {
		if len(o.queue) >= maxQueue {
			o.mu.Unlock()
			o.log.Warn("outgoing MQTT queue full, dropping message", zap.String(keyTopic, m.topic))
			return
		}
		o.queue = append(o.queue, key)
		o.peak = max(o.peak, len(o.queue))
	} else if m.retained && len(m.payload) == 0 {
		if i := slices.Index(o.queue, key); i >= 0 {
			o.queue = append(slices.Delete(o.queue, i, i+1), key)
		}
	}
	o.pending[key] = m
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) pop() (message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return message{}, false
	}
	key := o.queue[0]
	o.queue[0] = ""
	o.queue = o.queue[1:]
	m := o.pending[key]
	delete(o.pending, key)
	if len(o.queue) == 0 && o.peak > shrinkAbove {
		// Drained after a burst (the start, a replay): a Go map keeps the
		// room of its largest size, a megabyte or two for thousands of
		// devices; start small again.
		o.pending, o.queue, o.peak = map[string]message{}, nil, 0
	}
	return m, true
}

// run publishes queued messages one at a time, QoS 1, waiting for each
// acknowledgement. While the connection is down (or not yet subscribed)
// messages are discarded: every (re)connect republishes the full retained
// state once the subscriptions are in place.
func (o *outbox) run(ctx context.Context) {
	for {
		m, ok := o.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		if !o.ready() {
			o.log.Debug("not connected, dropping publication (replayed on reconnect)", zap.String(keyTopic, m.topic))
			continue
		}
		tok := o.client.Publish(m.topic, 1, m.retained, m.payload)
		if err := waitToken(ctx, tok, publishTimeout); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("publish failed", zap.String(keyTopic, m.topic), zap.Error(err))
		} else if o.sent != nil {
			o.sent(m)
		}
	}
}

// flush publishes everything queued now, synchronously, within d. Used at
// shutdown before the offline state is sent.
func (o *outbox) flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, ok := o.pop()
		if !ok || !o.client.IsConnectionOpen() {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_ = waitToken(ctx, o.client.Publish(m.topic, 1, m.retained, m.payload), time.Until(deadline))
		cancel()
	}
}
