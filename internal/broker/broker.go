// Package broker runs the embedded MQTT broker (mochi-mqtt v2) that
// kasa2mqtt starts when no external broker is configured, and that the tests
// and `kasa2mqtt demo` use as a real broker on loopback.
//
// A Broker owns its mochi server. Close is idempotent (mochi's own Close
// panics when called twice) and safe to call from any goroutine.
package broker

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.uber.org/zap"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string

	closeOnce sync.Once
	closeErr  error
}

// Options configure Start.
type Options struct {
	// Listen is host:port; "127.0.0.1:0" picks a free port (see Addr).
	Listen string
	// Username and Password, when Username is set, are the only credentials
	// the broker accepts. Empty: every client is allowed (bind to loopback).
	Username, Password string
	// Logger receives the broker's errors; nil discards them.
	Logger *zap.Logger
}

// Start binds the listener and serves until Close.
func Start(opts Options) (*Broker, error) {
	var w io.Writer = io.Discard
	if opts.Logger != nil {
		w = zap.NewStdLog(opts.Logger.Named("broker")).Writer()
	}
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: mqtt.NewDefaultServerCapabilities(),
		Logger:       slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError})),
	})
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
		return nil, fmt.Errorf("broker: auth hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: opts.Listen})
	if err := srv.AddListener(l); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("broker: listen on %s: %w", opts.Listen, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return &Broker{srv: srv, addr: l.Address()}, nil
}

// Addr is the bound host:port.
func (b *Broker) Addr() string { return b.addr }

// URL is "mqtt://<Addr>".
func (b *Broker) URL() string { return "mqtt://" + b.addr }

// Server exposes the mochi server for tests (inline publish/subscribe).
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Close stops the broker and disconnects its clients. Idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.srv.Close() })
	return b.closeErr
}
