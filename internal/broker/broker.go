// Package broker runs the embedded MQTT broker (mochi-mqtt v2) that
// kasa2mqtt starts when no external broker is configured, and that the tests
// and `kasa2mqtt demo` use as a real broker on loopback.
//
// For many users the embedded broker is their only MQTT broker, so it is
// configured to behave like one they can rely on (see docs/broker.md):
//
//   - acknowledgements never echo a publisher's properties, so MQTT 5
//     clients get a valid PUBACK (mochi's NoInheritedPropertiesOnAck);
//   - retained messages and queued messages never expire unless their
//     publisher set a message expiry (mochi's default is 24 hours);
//   - with Options.StateFile, retained messages, persistent sessions, their
//     subscriptions and queued QoS 1/2 messages survive a restart (mochi's
//     bbolt storage hook);
//   - every packet a client sends is limited to Options.MaxPacketSize
//     (announced to MQTT 5 clients in the CONNACK);
//   - besides plain TCP, an optional TLS listener and an optional WebSocket
//     listener.
//
// A Broker owns its mochi server. Close is idempotent (mochi's own Close
// panics when called twice) and safe to call from any goroutine; it closes
// the listeners, disconnects the clients, then closes the state file.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.uber.org/zap"
)

// DefaultMaxPacketSize is the largest packet (8 MiB) a client may send when
// Options.MaxPacketSize is 0: large enough for the bridge's own largest
// message (bridge/devices, about 320 bytes per device) on accounts of
// many thousands of devices, small enough that no client can make the
// broker hold hundreds of megabytes for one packet.
const DefaultMaxPacketSize = 8 << 20

// Broker is a running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	guard   connGuard
	addr    string
	tlsAddr string
	wsAddr  string
	store   *storageHook // nil without a state file

	closeOnce sync.Once
	closeErr  error
}

// Options configure Start. Only Listen is required.
type Options struct {
	// Listen is host:port of the plain TCP listener; "127.0.0.1:0" picks a
	// free port (see Addr).
	Listen string
	// TLSListen, when set, adds an MQTT-over-TLS listener on host:port
	// serving TLSConfig (which must hold a certificate). Default "" (off).
	TLSListen string
	TLSConfig *tls.Config
	// WebSocketListen, when set, adds an MQTT-over-WebSocket listener
	// (any path, subprotocol "mqtt") on host:port. Default "" (off).
	WebSocketListen string
	// WebSocketOrigins are the browser origins (e.g.
	// "http://dashboard.local:1880") allowed to open a WebSocket besides
	// the listener's own host; "*" allows every origin. Requests without an
	// Origin header (non-browser clients) are always allowed. Default none.
	WebSocketOrigins []string
	// Username and Password, when Username is set, are the only credentials
	// the broker accepts on every listener. Empty: every client is allowed
	// (bind to loopback).
	Username, Password string
	// StateFile is the bbolt file that keeps retained messages and
	// persistent sessions across restarts. Default "" (memory only). It is
	// created with mode 0600; a file locked by another process makes Start
	// fail with ErrStateLocked, an unreadable one is moved aside.
	StateFile string
	// MaxPacketSize is the largest packet in bytes a client may send; a
	// larger one closes that client's connection (without a DISCONNECT
	// packet: mochi does not send one; MQTT 5 clients learn the limit from
	// the CONNACK and refuse larger publishes themselves). 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize uint32
	// Logger receives the broker's errors and warnings; nil discards them.
	Logger *zap.Logger
}

// Capabilities returns the mochi capabilities the embedded broker runs
// with for a maximum packet size (0: DefaultMaxPacketSize). Exported so
// tests can run mochi with exactly these settings.
func Capabilities(maxPacketSize uint32) *mqtt.Capabilities {
	if maxPacketSize == 0 {
		maxPacketSize = DefaultMaxPacketSize
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// PUBACK/PUBREC/PUBREL/PUBCOMP must not copy the publisher's user
	// properties: mochi then also writes its QoS-granted reason code 0x01,
	// which is not a valid PUBACK reason, and MQTT.js drops the connection
	// and resends (mochi-mqtt/server#474).
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	// 0: no broker-imposed expiry. mochi's default (86,400 s) deletes
	// retained messages a day after they were published and drops queued
	// messages of offline sessions; a publisher's own message expiry
	// interval still applies.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumPacketSize = maxPacketSize
	return caps
}

// Start binds the listeners, opens the state file and serves until Close.
// Errors name the listener address or the state file at fault.
func Start(opts Options) (*Broker, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("broker")
	b := &Broker{srv: newServer(opts, log)}
	if err := b.setUp(opts, log); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// newServer returns the mochi server of opts, without hooks or listeners.
func newServer(opts Options, log *zap.Logger) *mqtt.Server {
	return mqtt.New(serverOptions(opts, log))
}

// serverOptions are the mochi options of opts.
func serverOptions(opts Options, log *zap.Logger) *mqtt.Options {
	var h slog.Handler = slog.DiscardHandler
	if opts.Logger != nil {
		h = newZapHandler(log)
	}
	return &mqtt.Options{
		InlineClient: true,
		Capabilities: Capabilities(opts.MaxPacketSize),
		Logger:       slog.New(h),
	}
}

func (b *Broker) setUp(opts Options, log *zap.Logger) error {
	srv := b.srv
	if !slowRetainedExpiry(srv, retainedExpiryEvery) {
		log.Debug("broker: the retained-expiry interval could not be changed; mochi scans every second")
	}
	var err error
	if opts.Username != "" {
		err = srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{
			Auth: auth.AuthRules{{Username: auth.RString(opts.Username), Password: auth.RString(opts.Password), Allow: true}},
			ACL:  auth.ACLRules{{Username: auth.RString(opts.Username), Filters: auth.Filters{"#": auth.ReadWrite}}},
		}})
	} else {
		err = srv.AddHook(new(auth.AllowHook), nil)
	}
	if err != nil {
		return fmt.Errorf("broker: auth hook: %w", err)
	}
	if err := srv.AddHook(&packetLimitHook{max: srv.Options.Capabilities.MaximumPacketSize}, nil); err != nil {
		return fmt.Errorf("broker: packet limit hook: %w", err)
	}
	if err := srv.AddHook(new(packetIDHook), nil); err != nil {
		return fmt.Errorf("broker: packet id hook: %w", err)
	}
	if err := srv.AddHook(new(topicCopyHook), nil); err != nil {
		return fmt.Errorf("broker: topic copy hook: %w", err)
	}
	if opts.StateFile != "" {
		if b.store, err = addStorage(srv, opts.StateFile, log); err != nil {
			return err
		}
	}

	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: opts.Listen})
	if err := b.addListener(tcp); err != nil {
		return fmt.Errorf("broker: listen on %s: %w", opts.Listen, err)
	}
	b.addr = tcp.Address()
	warnOpen(log, "tcp", b.addr, opts.Username)
	if opts.TLSListen != "" {
		if opts.TLSConfig == nil || len(opts.TLSConfig.Certificates) == 0 && opts.TLSConfig.GetCertificate == nil {
			return errors.New("broker: the TLS listener needs a certificate")
		}
		l := listeners.NewTCP(listeners.Config{ID: "tls", Address: opts.TLSListen, TLSConfig: opts.TLSConfig})
		if err := b.addListener(l); err != nil {
			return fmt.Errorf("broker: TLS listen on %s: %w", opts.TLSListen, err)
		}
		b.tlsAddr = l.Address()
		warnOpen(log, "tls", b.tlsAddr, opts.Username)
	}
	if opts.WebSocketListen != "" {
		l := newWebSocket("ws", opts.WebSocketListen, opts.WebSocketOrigins)
		if err := b.addListener(l); err != nil {
			return fmt.Errorf("broker: WebSocket listen on %s: %w", opts.WebSocketListen, err)
		}
		b.wsAddr = l.Address()
		warnOpen(log, "websocket", b.wsAddr, opts.Username)
	}
	if err := serve(srv); err != nil {
		return fmt.Errorf("broker: serve: %w", err)
	}
	return nil
}

// addListener binds l and adds it to the server behind the guard.
func (b *Broker) addListener(l listeners.Listener) error {
	return b.srv.AddListener(guardedListener{Listener: l, guard: &b.guard})
}

// serve runs srv.Serve, which reads the state file; bbolt panics on some
// damaged pages, and that must not take the daemon down.
func serve(srv *mqtt.Server) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errStateDamaged, r)
		}
	}()
	return srv.Serve()
}

// warnOpen logs a warning when a listener accepts every client on an
// address other hosts can reach.
func warnOpen(log *zap.Logger, listener, addr, username string) {
	if username != "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
		return
	}
	log.Warn("the embedded broker accepts every client without a password on an address other hosts can reach; set mqtt.username and mqtt.password",
		zap.String("listener", listener), zap.String("address", addr))
}

// Addr is the bound host:port of the TCP listener.
func (b *Broker) Addr() string { return b.addr }

// URL is "mqtt://<Addr>".
func (b *Broker) URL() string { return "mqtt://" + b.addr }

// TLSAddr is the bound host:port of the TLS listener, "" when off.
func (b *Broker) TLSAddr() string { return b.tlsAddr }

// WebSocketAddr is the bound host:port of the WebSocket listener, "" when
// off.
func (b *Broker) WebSocketAddr() string { return b.wsAddr }

// Server exposes the mochi server for tests (inline publish/subscribe).
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Close stops the broker, disconnects its clients and closes the state
// file. Idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.guard.close()
		b.closeErr = b.srv.Close()
	})
	return b.closeErr
}
