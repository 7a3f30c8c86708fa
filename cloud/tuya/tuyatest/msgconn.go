package tuyatest

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// consumerPathPrefix starts the message service's consumer path.
const consumerPathPrefix = "/ws/v2/consumer/"

// consumerConn is one connected consumer.
type consumerConn struct {
	ws         *websocket.Conn
	ackTimeout time.Duration
	wake       chan struct{}
	closeOnce  sync.Once
	done       chan struct{}
}

func (c *consumerConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.UnderlyingConn().Close()
	})
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

// serveConsumer checks a consumer's connection request as the message
// service would and serves it.
func (s *Server) serveConsumer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	accessID, ack, status := s.checkConsumer(r)
	if status == http.StatusOK {
		// The subscription exists from the accepted request on: what is
		// published while the handshake completes is queued for it.
		s.svc(accessID).subscribed = true
		s.svc(accessID).handshakes++
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	s.mu.Lock()
	m := s.svc(accessID)
	m.handshakes--
	drop := m.dropPending && m.handshakes == 0
	if drop {
		m.dropPending = false
	}
	if err != nil {
		s.mu.Unlock()
		return // the upgrader answered
	}
	c := &consumerConn{ws: ws, ackTimeout: ack, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if m.disabled || drop || m.hangUp {
		if m.hangUp {
			m.stats.HungUp++
		}
		s.mu.Unlock()
		c.close()
		return
	}
	if m.conn != nil {
		m.conn.close() // Failover: the newest consumer is the active one
	}
	m.conn = c
	m.stats.Connections++
	for _, q := range m.queue {
		q.sentAt = time.Time{} // everything unacknowledged goes out again
	}
	s.mu.Unlock()

	ws.SetPingHandler(func(data string) error {
		s.mu.Lock()
		stalled := m.stalled
		if !stalled {
			m.stats.Pings++
		}
		s.mu.Unlock()
		if stalled {
			return nil
		}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	go s.deliver(m, c)
	s.readAcks(m, c)
	s.mu.Lock()
	if m.conn == c {
		m.conn = nil
	}
	s.mu.Unlock()
	c.close()
}

// checkConsumer checks path, query and credentials (s.mu held) and
// returns the project, the consumer's ack timeout and 200, or the HTTP
// status of the refusal.
func (s *Server) checkConsumer(r *http.Request) (string, time.Duration, int) {
	rest := strings.TrimPrefix(r.URL.Path, consumerPathPrefix+"persistent/")
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[1] != "out" || parts[2] != "event" || parts[3] != parts[0]+"-sub" {
		return "", 0, http.StatusUnauthorized
	}
	p := s.projects[parts[0]]
	if p == nil || r.Header.Get("username") != p.accessID ||
		!hmac.Equal([]byte(r.Header.Get("password")), []byte(consumerPassword(p.accessID, p.secret))) {
		return "", 0, http.StatusUnauthorized
	}
	q := r.URL.Query()
	ms, err := strconv.Atoi(q.Get("ackTimeoutMillis"))
	if err != nil || ms < 1 || q.Get("subscriptionType") != "Failover" {
		return "", 0, http.StatusUnauthorized
	}
	if p.msg != nil && p.msg.disabled {
		return "", 0, http.StatusForbidden
	}
	return p.accessID, time.Duration(ms) * time.Millisecond, http.StatusOK
}

// consumerPassword is md5hex(accessID + md5hex(secret))[8:24], computed
// here independently of the provider.
func consumerPassword(accessID, secret string) string {
	inner := md5.Sum([]byte(secret))
	outer := md5.Sum([]byte(accessID + hex.EncodeToString(inner[:])))
	return hex.EncodeToString(outer[:])[8:24]
}

// readAcks reads acknowledgements until the connection ends.
func (s *Server) readAcks(m *msgService, c *consumerConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			MessageID string `json:"messageId"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.MessageID == "" {
			continue
		}
		s.mu.Lock()
		switch {
		case m.stalled:
		case m.ignoreAcks > 0:
			m.ignoreAcks--
		default:
			for i, q := range m.queue {
				if q.id == ack.MessageID {
					m.queue = append(m.queue[:i], m.queue[i+1:]...)
					m.stats.Acked++
					break
				}
			}
		}
		s.mu.Unlock()
	}
}

// frame is a delivered message.
type frame struct {
	MessageID       string            `json:"messageId"`
	Payload         string            `json:"payload"`
	Properties      map[string]string `json:"properties"`
	PublishTime     string            `json:"publishTime"`
	RedeliveryCount int               `json:"redeliveryCount"`
	Key             string            `json:"key"`
}

// deliver sends what is due on c: messages not delivered on it yet, and
// those not acknowledged within the ack timeout, until c closes.
func (s *Server) deliver(m *msgService, c *consumerConn) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		timeout := c.ackTimeout
		if m.ackTimeout > 0 {
			timeout = m.ackTimeout
		}
		var out [][]byte
		next := time.Hour
		for _, q := range m.queue {
			if m.stalled || m.conn != c {
				break
			}
			if !q.sentAt.IsZero() {
				if due := q.sentAt.Add(timeout).Sub(now); due > 0 {
					next = min(next, due)
					continue
				}
			}
			f := frame{MessageID: q.id, Payload: q.payload, Properties: map[string]string{},
				PublishTime: s.now().UTC().Format("2006-01-02T15:04:05.000Z"), RedeliveryCount: q.deliveries}
			if q.gcm {
				f.Properties["em"] = "aes_gcm"
			}
			if q.deliveries > 0 {
				m.stats.Redelivered++
			}
			q.deliveries++
			q.sentAt = now
			m.stats.Delivered++
			next = min(next, timeout)
			out = append(out, mustJSON(f))
		}
		s.mu.Unlock()
		for _, b := range out {
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				c.close()
				return
			}
		}
		timer.Reset(next)
		select {
		case <-c.done:
			return
		case <-s.closing:
			c.close()
			return
		case <-c.wake:
		case <-timer.C:
		}
	}
}
