package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// webSocket is an MQTT-over-WebSocket listener (subprotocol "mqtt", any
// path). Unlike mochi's own, it binds in Init (so a busy port fails Start
// and ":0" reports the real port) and it refuses cross-site browser
// requests: a web page on another origin must not be able to reach a
// broker that trusts everything on loopback.
type webSocket struct {
	id, address string
	origins     []string

	ln       net.Listener
	srv      *http.Server
	upgrader websocket.Upgrader
	log      *slog.Logger
	est      listeners.EstablishFn
	closed   sync.Once
}

var _ listeners.Listener = (*webSocket)(nil)

func newWebSocket(id, address string, origins []string) *webSocket {
	l := &webSocket{id: id, address: address, origins: origins}
	l.upgrader = websocket.Upgrader{
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      l.originAllowed,
	}
	return l
}

// Init binds the address.
func (l *webSocket) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.ln = ln
	l.srv = &http.Server{Handler: http.HandlerFunc(l.handle), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Serve accepts connections until Close.
func (l *webSocket) Serve(establish listeners.EstablishFn) {
	l.est = establish
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err)
	}
}

// ID is the listener id.
func (l *webSocket) ID() string { return l.id }

// Address is the bound host:port.
func (l *webSocket) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

// Protocol is "ws".
func (l *webSocket) Protocol() string { return "ws" }

// Close stops accepting and disconnects the listener's clients.
func (l *webSocket) Close(closeClients listeners.CloseFn) {
	l.closed.Do(func() {
		if l.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = l.srv.Shutdown(ctx)
		_ = l.ln.Close() // in case Serve never ran
	})
	closeClients(l.id)
}

func (l *webSocket) handle(w http.ResponseWriter, r *http.Request) {
	c, err := l.upgrader.Upgrade(w, r, nil) // answers the failure itself
	if err != nil {
		return
	}
	defer c.Close()
	if err := l.est(l.id, &wsConn{Conn: c.NetConn(), ws: c}); err != nil && !errors.Is(err, io.EOF) {
		l.log.Debug("websocket client ended", "error", err, "remote", r.RemoteAddr)
	}
}

// originAllowed accepts requests without an Origin (not from a browser),
// same-origin requests and the configured origins ("*": all).
func (l *webSocket) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range l.origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// wsConn is the byte stream of one WebSocket connection: MQTT packets may
// span binary messages or share one. Deadlines, addresses and Close are
// the underlying connection's.
type wsConn struct {
	net.Conn
	ws *websocket.Conn

	r   io.Reader  // the binary message being read, nil between messages
	wmu sync.Mutex // the WebSocket allows one writer at a time
}

var errTextFrame = errors.New("websocket: MQTT needs binary messages, got another kind")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
