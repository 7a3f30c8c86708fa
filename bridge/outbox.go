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

// publishWindow is how many publications may await the broker's
// acknowledgement at once. One at a time, each waited for a round trip to
// the broker before the next went out: the 11,400 discovery, state and
// availability messages of 2,000 devices took 8 s to reach Mosquitto at
// start. A broker handles one connection's publishes in order (MQTT's
// ordering guarantee for QoS 1), so the window keeps their order.
const publishWindow = 32

// flight is a publication awaiting its acknowledgement.
type flight struct {
	m        message
	tok      paho.Token
	deadline time.Time
}

// run publishes queued messages, QoS 1, with up to publishWindow awaiting
// their acknowledgement; sent is called for each in the order they were
// published. While the connection is down (or not yet subscribed)
// messages are discarded: every (re)connect republishes the full retained
// state once the subscriptions are in place.
func (o *outbox) run(ctx context.Context) {
	var window []flight
	for {
		// Settle the oldest publications that are done (or overdue); when
		// the window is full, wait for the oldest.
		for len(window) > 0 && (len(window) >= publishWindow || settled(window[0])) {
			if !o.settle(ctx, window[0]) {
				return
			}
			window[0] = flight{}
			window = window[1:]
		}
		m, ok := o.pop()
		if !ok {
			if !o.idle(ctx, window) {
				return
			}
			continue
		}
		if !o.ready() {
			o.log.Debug("not connected, dropping publication (replayed on reconnect)", zap.String(keyTopic, m.topic))
			continue
		}
		window = append(window, flight{m: m, tok: o.client.Publish(m.topic, 1, m.retained, m.payload),
			deadline: time.Now().Add(publishTimeout)})
	}
}

// settled reports whether f's acknowledgement came (or failed) or its
// deadline passed.
func settled(f flight) bool {
	select {
	case <-f.tok.Done():
		return true
	default:
		return !time.Now().Before(f.deadline)
	}
}

// idle waits until something is queued, the oldest publication in window
// settles, or ctx ends (false).
func (o *outbox) idle(ctx context.Context, window []flight) bool {
	if len(window) == 0 {
		select {
		case <-ctx.Done():
			return false
		case <-o.wake:
			return true
		}
	}
	t := time.NewTimer(time.Until(window[0].deadline))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-o.wake:
	case <-window[0].tok.Done():
	case <-t.C:
	}
	return true
}

// settle waits for f's acknowledgement until its deadline and hands it to
// sent, or logs the failure; false when ctx ended.
func (o *outbox) settle(ctx context.Context, f flight) bool {
	var err error
	select {
	case <-f.tok.Done():
		err = f.tok.Error()
	default:
		err = waitToken(ctx, f.tok, time.Until(f.deadline))
	}
	switch {
	case err == nil:
		if o.sent != nil {
			o.sent(f.m)
		}
	case ctx.Err() != nil:
		return false
	default:
		o.log.Warn("publish failed", zap.String(keyTopic, f.m.topic), zap.Error(err))
	}
	return true
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
