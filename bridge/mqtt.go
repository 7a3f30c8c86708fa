package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// ErrMQTTTimeout is returned when the broker did not acknowledge in time.
var ErrMQTTTimeout = errors.New("mqtt: timed out waiting for the broker")

// MQTTOptions configure the broker connection.
type MQTTOptions struct {
	// Server is mqtt://host[:port] (default port 1883) or mqtts://host[:port]
	// (default port 8883, verified against the system roots or TLSConfig).
	Server string
	// ClientID must be stable and unique per instance (two instances with
	// one id disconnect each other in a loop).
	ClientID string
	Username string
	Password string
	// KeepAlive, default 30s; values under 5s are raised to 5s (paho
	// truncates to whole seconds and mochi drops clients below that).
	KeepAlive time.Duration
	// MaxReconnectInterval caps the wait between reconnect attempts (see
	// reconnectDelay). Default 30s.
	MaxReconnectInterval time.Duration
	// TLSConfig for mqtts://; nil uses the system roots.
	TLSConfig *tls.Config
	// MaxPacketSize is the largest packet the broker accepts, when known
	// (the embedded broker's mqtt.embedded.max_packet_size); 0: unknown.
	// A larger publication is not sent (an error names the topic, its size
	// and the limit, once per topic) rather than making the broker drop
	// the connection, again at every replay.
	MaxPacketSize int
}

// brokerURL converts mqtt:// and mqtts:// to paho's tcp:// and ssl://.
func brokerURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("mqtt server %q: %w", server, err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("mqtt server %q: no host", server)
	}
	port := u.Port()
	switch u.Scheme {
	case "mqtt", "tcp":
		if port == "" {
			port = "1883"
		}
		return "tcp://" + net.JoinHostPort(u.Hostname(), port), nil
	case "mqtts", "ssl", "tls":
		if port == "" {
			port = "8883"
		}
		return "ssl://" + net.JoinHostPort(u.Hostname(), port), nil
	}
	return "", fmt.Errorf("mqtt server %q: scheme must be mqtt or mqtts", server)
}

// newPahoClient builds the paho client with every option set explicitly.
// paho's own reconnecting is off: keepConnected calls Connect, once at
// start and again after every lost connection. onConnect runs (in its own
// goroutine) after every successful Connect; onLost after the connection
// dropped (paho is disconnected by then); onMessage receives every message
// and must not block.
func newPahoClient(o MQTTOptions, will string, willPayload []byte,
	onConnect func(paho.Client), onLost func(error), onMessage paho.MessageHandler) (paho.Client, error) {
	server, err := brokerURL(o.Server)
	if err != nil {
		return nil, err
	}
	keepAlive := o.KeepAlive
	if keepAlive == 0 {
		keepAlive = DefaultKeepAlive
	}
	keepAlive = max(keepAlive, MinKeepAlive)
	opts := paho.NewClientOptions().
		AddBroker(server).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetProtocolVersion(4). // MQTT 3.1.1
		SetCleanSession(true). // commands queued while we were away are stale
		SetOrderMatters(true). // our handler never blocks; commands keep their order
		SetKeepAlive(keepAlive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		// paho's reconnect backoff never resets after a successful
		// connection: after a few broker restarts in a row it waited up to
		// MaxReconnectInterval although the broker was back. keepConnected
		// reconnects instead.
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetBinaryWill(will, willPayload, 1, true).
		SetDefaultPublishHandler(onMessage).
		SetOnConnectHandler(onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) { onLost(err) })
	if o.TLSConfig != nil {
		opts.SetTLSConfig(o.TLSConfig)
	}
	return paho.NewClient(opts), nil
}

const (
	// reconnectInitial is the wait after the first failure of a streak;
	// each further failure doubles it, up to the maximum.
	reconnectInitial = 500 * time.Millisecond
	// stableConnection: a connection that the broker accepted at the first
	// attempt and that dropped sooner than this counts as a failure (two
	// instances sharing a client id kick each other off; a broker may drop
	// a client it dislikes right after accepting it).
	stableConnection = 10 * time.Second
)

// reconnectDelay is the wait before the next connection attempt after n
// failures in a row: none after no failure, then 500ms doubling up to
// maxWait (default 30s).
func reconnectDelay(n int, maxWait time.Duration) time.Duration {
	if maxWait <= 0 {
		maxWait = DefaultMaxReconnectInterval
	}
	if n <= 0 {
		return 0
	}
	d := reconnectInitial
	for range n - 1 {
		if d >= maxWait {
			break
		}
		d *= 2
	}
	return min(d, maxWait)
}

// keepConnected connects client and reconnects it each time lost
// signals that the connection dropped, until ctx ends. The first attempt
// after a drop is immediate; attempts that fail back off as reconnectDelay
// says. A drop does not carry earlier failures over, so a broker that
// restarts many times in a row is reconnected to as soon as it is back
// each time (paho's own backoff never reset and waited up to maxWait).
// Only connections that the broker accepted at once and dropped within
// stableConnection add up, so that a broker kicking the bridge off right
// away is not hammered. Attempts are single (paho's ConnectRetry is off)
// and bounded by the connect timeout. It returns when ctx ends, without
// waiting for an attempt in flight (the caller's Disconnect aborts it).
func keepConnected(ctx context.Context, client paho.Client, lost <-chan struct{}, maxWait time.Duration, c clock, log *zap.Logger) {
	fails, flaps := 0, 0 // failed attempts now; quick drops before
	first := true
	for {
		if d := reconnectDelay(flaps+fails, maxWait); d > 0 && !sleep(c, d, ctx.Done()) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-lost: // stale: there is no connection now
		default:
		}
		tok := client.Connect()
		select {
		case <-ctx.Done():
			return
		case <-tok.Done():
		}
		if err := tok.Error(); err != nil {
			fails++
			lvl := zap.DebugLevel
			if fails == 1 {
				lvl = zap.WarnLevel
			}
			log.Log(lvl, "cannot connect to the MQTT broker; retrying", zap.Int("attempt", fails),
				zap.Duration("retry_in", reconnectDelay(flaps+fails, maxWait)), zap.Error(err))
			continue
		}
		wasDown := first || fails > 0 // the broker was away, or this is the start
		first, fails = false, 0
		up := c.Now()
		select {
		case <-ctx.Done():
			return
		case <-lost:
		}
		if wasDown || c.Now().Sub(up) >= stableConnection {
			flaps = 0
		} else {
			flaps++
		}
		log.Debug("reconnecting to the MQTT broker", zap.Duration("in", reconnectDelay(flaps, maxWait)))
	}
}

// waitToken waits for tok, for at most d or until ctx ends. A token that did
// not complete in time is ErrMQTTTimeout (paho leaves Error nil then).
func waitToken(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return ErrMQTTTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onConnect runs in a paho goroutine on every (re)connect: subscribe, then
// wake the run loop to republish everything.
func (b *Bridge) onConnect(c paho.Client) {
	lost := b.lostCount.Load()
	filters := map[string]byte{b.opts.BaseTopic + "/#": 1}
	if b.opts.HomeAssistant {
		filters[b.opts.StatusTopic] = 1
	}
	// Without its subscriptions the bridge is deaf: retry until the broker
	// grants them or the connection drops (paho then reconnects and calls
	// onConnect again). Never Disconnect here: in paho that is final.
	for attempt := 1; ; attempt++ {
		err := subscribe(c, filters)
		if err == nil {
			break
		}
		if !c.IsConnectionOpen() {
			b.log.Warn("connection lost while subscribing; reconnecting", zap.Error(err))
			return
		}
		b.log.Error("subscribing to command topics failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		sleep(b.opts.clock, min(time.Duration(attempt)*2*time.Second, 30*time.Second), nil)
	}
	b.online.Store(true)
	if b.opts.Metrics != nil {
		b.opts.Metrics.SetMQTTConnected(true)
	}
	if b.lostCount.Load() != lost || !c.IsConnectionOpen() {
		// Lost meanwhile: onConnectionLost may have cleared the flags
		// before the lines above set them; clear them again (set, then
		// check: either order ends offline).
		b.online.Store(false)
		if b.opts.Metrics != nil {
			b.opts.Metrics.SetMQTTConnected(false)
		}
		return
	}
	b.log.Info("connected to the MQTT broker")
	select {
	case b.connected <- struct{}{}:
	default:
	}
}

func (b *Bridge) onConnectionLost(err error) {
	b.lostCount.Add(1)
	b.online.Store(false)
	if b.opts.Metrics != nil {
		b.opts.Metrics.SetMQTTConnected(false)
	}
	b.log.Warn("lost the MQTT connection; reconnecting", zap.Error(err))
	select {
	case b.lost <- struct{}{}:
	default:
	}
}

// onMessage runs in paho's goroutines: it keeps only command and status
// messages (our own state echoes are dropped here) and never blocks.
func (b *Bridge) onMessage(_ paho.Client, m paho.Message) {
	topic := m.Topic()
	if topic != b.opts.StatusTopic {
		_, isCmd := parseCommandTopic(b.opts.BaseTopic, topic)
		_, isReq := isRequestTopic(b.opts.BaseTopic, topic)
		if !isCmd && !isReq {
			return
		}
	}
	if b.opts.Metrics != nil {
		b.opts.Metrics.MQTTMessage("in")
	}
	payload := m.Payload()
	size := len(payload)
	if size > maxPayload {
		// Queued messages must not hold megabytes each (the queue has
		// room for 1024): the message is refused for its size anyway.
		payload = payload[:maxPayload+1]
	}
	msg := mqttMessage{topic: topic, payload: append([]byte(nil), payload...), size: size, retained: m.Retained()}
	select {
	case b.msgs <- msg:
	default:
		b.log.Warn("command queue full, dropping message", zap.String(keyTopic, topic), payloadField(msg.payload))
	}
}

// subscribe subscribes to filters and checks that the broker granted each
// one (a refusal, return code 0x80, is not an error for paho).
func subscribe(c paho.Client, filters map[string]byte) error {
	tok := c.SubscribeMultiple(filters, nil)
	if err := waitToken(context.Background(), tok, 10*time.Second); err != nil {
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for filter, code := range st.Result() {
			if code == 0x80 {
				return fmt.Errorf("broker refused the subscription to %q (check its ACL)", filter)
			}
		}
	}
	return nil
}
