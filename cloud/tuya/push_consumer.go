package tuya

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Timing of the push connection besides the keep-alive.
const (
	// pushRetryMax caps the back-off between reconnect attempts after a
	// drop or a failed attempt (1 s doubling, jittered ×0.5–1).
	pushRetryMax = 2 * time.Minute
	// pushRefusedRetry is the wait (jittered ×0.5–1) after the message
	// service refused the connection: the project lacks it until a person
	// enables it.
	pushRefusedRetry = 10 * time.Minute
	// pushFlushEvery bounds how often pushed energy reports write the
	// energy totals (polls and the daemon's shutdown also write them).
	pushFlushEvery = 30 * time.Second
	// pushWriteTimeout bounds writing one acknowledgement or ping.
	pushWriteTimeout = 10 * time.Second
)

// errSilent is a connection that answered nothing between two
// keep-alive pings.
var errSilent = errors.New("no frame and no answer to the keep-alive ping: connection replaced")

// consumer is the push connection of one account: one goroutine (run)
// owns it and everything in it.
type consumer struct {
	p      *Provider
	s      *pushState
	sink   cloud.PushSink
	log    *zap.Logger
	obs    cloud.PushObserver // nil when the observer does not count frames
	mem    *pushMemory
	dialer *websocket.Dialer
	url    string
	header http.Header

	everConnected bool
	connectedAt   time.Time
	lostAt        time.Time
	// retries counts the failed attempts, and the connections that ended
	// before their first keep-alive ping, since the last connection that
	// lasted.
	retries       int
	warnedConnect bool
	refusedNoted  bool
	lastFlush     time.Time
}

func newConsumer(p *Provider, sink cloud.PushSink) *consumer {
	s := p.push
	c := &consumer{
		p: p, s: s, sink: sink, log: p.log, mem: newPushMemory(),
		url: consumerURL(s.addr, s.accessID),
		header: http.Header{
			"username": {s.accessID},
			"password": {s.password},
		},
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: p.rt.http.Timeout(),
		},
		lastFlush: s.clock.Now(),
	}
	if po, ok := p.observer.(cloud.PushObserver); ok {
		c.obs = po
	}
	return c
}

// run connects and reconnects until ctx ends.
func (c *consumer) run(ctx context.Context) {
	defer c.flush()
	for ctx.Err() == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !c.sleep(ctx, c.failed(err)) {
				return
			}
			continue
		}
		c.connected()
		err = c.serve(ctx, conn)
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		c.lost(err)
		// A connection that ended before its first keep-alive ping (a
		// service that takes the handshake and hangs up) is one more
		// failed attempt: the back-off goes on growing instead of
		// reconnecting every second.
		if c.s.clock.Now().Sub(c.connectedAt) < c.s.keepAlive {
			c.retries++
		} else {
			c.retries = 1
		}
		if !c.sleep(ctx, c.backoff()) {
			return
		}
	}
}

// backoff is the wait before the next attempt after c.retries failed ones:
// 1 s doubling to pushRetryMax, jittered.
func (c *consumer) backoff() time.Duration {
	d := time.Second
	for i := 1; i < c.retries && d < pushRetryMax; i++ {
		d *= 2
	}
	return jittered(min(d, pushRetryMax))
}

// dial opens the consumer WebSocket. A refused handshake (401, 403, 404)
// is a *refusedError.
func (c *consumer) dial(ctx context.Context) (*websocket.Conn, error) {
	conn, resp, err := c.dialer.DialContext(ctx, c.url, c.header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err == nil {
		return conn, nil
	}
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return nil, &refusedError{status: resp.StatusCode}
		}
		return nil, fmt.Errorf("connect to the message service: HTTP %d", resp.StatusCode)
	}
	return nil, fmt.Errorf("connect to the message service: %w", err)
}

// failed records a failed attempt and returns the wait before the next.
func (c *consumer) failed(err error) time.Duration {
	s := c.s
	if isRefused(err) {
		s.byPoll.Store(true)
		problem := err.Error() + "; " + enableAdvice
		switch {
		case c.refusedNoted:
			c.log.Debug("tuya message service still refuses the connection", zap.Error(err))
		case s.mode == PushOn:
			c.log.Error("tuya push not available (push: on); polling at poll.interval", zap.String("reason", problem))
		default:
			c.log.Warn("tuya push not available; polling only", zap.String("reason", problem))
		}
		c.refusedNoted = true
		c.status(false, problem, s.clock.Now())
		return jittered(pushRefusedRetry)
	}
	c.retries++
	if !c.everConnected && !c.warnedConnect {
		c.warnedConnect = true
		c.log.Warn("tuya push cannot connect yet; polling meanwhile, retrying", zap.Error(err))
	} else {
		c.log.Debug("tuya push reconnect failed", zap.Int("attempt", c.retries), zap.Error(err))
	}
	c.status(false, "", s.clock.Now())
	return c.backoff()
}

// connected records a new connection: one line for the first, one for
// each restoration after a loss.
func (c *consumer) connected() {
	s := c.s
	now := s.clock.Now()
	s.byPoll.Store(false)
	switch {
	case !c.everConnected:
		c.log.Info("tuya push connected; polling only to reconcile")
	case !c.lostAt.IsZero():
		c.log.Info("tuya push connection restored", zap.Duration("down", now.Sub(c.lostAt).Round(time.Second)),
			zap.Int("attempts", c.retries))
		if c.obs != nil {
			c.obs.PushReconnect(ProviderKind, c.p.account)
		}
	default: // refused before, now accepted
		c.log.Info("tuya push connected; polling only to reconcile")
		if c.obs != nil {
			c.obs.PushReconnect(ProviderKind, c.p.account)
		}
	}
	c.everConnected, c.connectedAt, c.lostAt, c.refusedNoted = true, now, time.Time{}, false
	c.status(true, "", now)
}

// status reports the connection's health to the sink. Required follows
// the push mode in every report, connected or not, so bridge/info shows
// what push: on asks for at all times.
func (c *consumer) status(connected bool, problem string, since time.Time) {
	c.sink.Status(cloud.PushStatus{Connected: connected, Since: since, Problem: problem, Required: c.s.mode == PushOn})
}

// lost records the end of a connection.
func (c *consumer) lost(err error) {
	now := c.s.clock.Now()
	c.lostAt = now
	c.log.Warn("tuya push connection lost; polling at poll.interval until it is back", zap.Error(err))
	c.status(false, "", now)
}

// serve reads frames until the connection fails, turns silent or ctx
// ends. Frames are handled in order on this goroutine; a reader goroutine
// only receives them.
func (c *consumer) serve(ctx context.Context, conn *websocket.Conn) error {
	conn.SetReadLimit(maxFrameBytes)
	var received atomic.Int64
	conn.SetPongHandler(func(string) error {
		received.Add(1)
		c.received()
		return nil
	})
	frames := make(chan []byte)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	// handing is set while the reader waits for this goroutine to take a
	// frame: the connection is not silent then, this goroutine is busy.
	var handing atomic.Bool
	go func() {
		for {
			_, r, err := conn.NextReader()
			var data []byte
			if err == nil {
				// Every chunk counts as life: a large frame on a slow
				// link is not a silent connection.
				data, err = io.ReadAll(countingReader{r, &received})
			}
			if err != nil {
				readErr <- err
				return
			}
			handing.Store(true)
			select {
			case frames <- data:
				handing.Store(false)
			case <-done:
				return
			}
		}
	}()

	ping := c.s.clock.NewTimer(c.s.keepAlive)
	defer ping.Stop()
	seen, pinged := received.Load(), false
	for {
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(time.Second))
			return ctx.Err()
		case err := <-readErr:
			return err
		case data := <-frames:
			c.received()
			if err := c.handle(ctx, conn, data); err != nil {
				return err
			}
		case <-ping.C():
			n := received.Load()
			if pinged && n == seen && !handing.Load() {
				return errSilent
			}
			seen, pinged = n, true
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(pushWriteTimeout)); err != nil {
				return fmt.Errorf("keep-alive ping: %w", err)
			}
			ping.Reset(c.s.keepAlive)
		}
	}
}

// handle applies one frame and acknowledges it. Only a failure to hand an
// update over (ctx ended) or to write the acknowledgement is returned: an
// unusable frame is counted, logged once per kind and acknowledged.
func (c *consumer) handle(ctx context.Context, conn *websocket.Conn, data []byte) error {
	proto, result := -1, cloud.PushApplied
	f, err := parseFrame(data)
	if err == nil && c.mem.seen.has("msg/"+f.messageID) {
		result = cloud.PushDuplicate
	} else if err == nil {
		var pl pushPayload
		pl, err = openPayload(f.payload, c.s.key, f.gcm)
		if pl.protocol > 0 || err == nil {
			proto = pl.protocol
		}
		var msg pushMessage
		if err == nil {
			msg, err = parseMessage(pl.protocol, pl.data)
		}
		switch {
		case errors.Is(err, errUnknownProtocol):
			result = cloud.PushIgnored
			c.p.noteOnce(fmt.Sprintf("push/protocol/%d", proto), "tuya push: ignoring messages of a protocol kasa2mqtt does not read",
				zap.Int("protocol", proto))
		case errors.Is(err, errUnknownEvent):
			result = cloud.PushIgnored
			c.p.noteOnce(fmt.Sprintf("push/event/%d/%s", proto, msg.bizCode), "tuya push: ignoring events kasa2mqtt does not know",
				zap.Int("protocol", proto), zap.String("event", msg.bizCode))
		case err != nil:
			result = frameKind(err)
			c.p.noteOnce("push/"+result, "tuya push: unusable messages are counted and dropped (logged once)",
				zap.String("result", result), zap.Int("protocol", proto), zap.Error(err))
			c.log.Debug("tuya push message dropped", zap.String("result", result), zap.Error(err))
		default:
			var updates []cloud.Update
			updates, result = c.p.applyPush(msg, c.mem)
			c.log.Debug("tuya push message", zap.String(keyDeviceID, msg.devID), zap.String("message", msg.describe()),
				zap.String("result", result), zap.Int("redelivered", f.redelivered))
			for _, u := range updates {
				if err := c.sink.Update(ctx, u); err != nil {
					return err
				}
			}
			if msg.kind == pushStatus {
				c.maybeFlush()
			}
		}
	} else {
		result = frameKind(err)
		c.p.noteOnce("push/"+result, "tuya push: unusable messages are counted and dropped (logged once)",
			zap.String("result", result), zap.Error(err))
	}
	if c.obs != nil {
		c.obs.PushFrame(ProviderKind, c.p.account, protocolLabel(proto), result)
	}
	if f.messageID == "" {
		return nil
	}
	c.mem.seen.add("msg/" + f.messageID)
	ack, _ := json.Marshal(struct {
		MessageID string `json:"messageId"`
	}{f.messageID})
	_ = conn.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, ack); err != nil {
		return fmt.Errorf("acknowledge: %w", err)
	}
	return nil
}

// received tells the observer that the connection is alive.
func (c *consumer) received() {
	if c.obs != nil {
		c.obs.PushReceived(ProviderKind, c.p.account, c.s.clock.Now())
	}
}

// maybeFlush writes the energy totals at most every pushFlushEvery.
func (c *consumer) maybeFlush() {
	now := c.s.clock.Now()
	if now.Sub(c.lastFlush) < pushFlushEvery && !now.Before(c.lastFlush) {
		return
	}
	c.lastFlush = now
	c.flush()
}

func (c *consumer) flush() {
	if err := c.p.energy.Flush(); err != nil {
		c.log.Warn("tuya energy totals not saved", zap.Error(err))
	}
}

// sleep waits d on the push clock; false when ctx ended first.
func (c *consumer) sleep(ctx context.Context, d time.Duration) bool {
	t := c.s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// countingReader counts the reads that returned data.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}

// jittered picks uniformly from [d/2, d], so that clients that failed
// together do not retry together.
func jittered(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
