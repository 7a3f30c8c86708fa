// Package daemon wires a validated configuration into running parts: one
// provider per cloud account (through the registry in internal/providers),
// the embedded broker (when no broker is configured), the bridge, the
// operations endpoint and the systemd notifier. cmd/kasa2mqtt and the
// end-to-end tests in test/ both drive the daemon through Main.
package daemon

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
	"github.com/kasa2mqtt/kasa2mqtt/internal/metrics"
	"github.com/kasa2mqtt/kasa2mqtt/internal/version"
)

// Main is one running daemon. Fill the exported fields, then call Run once.
type Main struct {
	// Config is the validated configuration. Required.
	Config *config.Config
	// Logger is the process logger. Required.
	Logger *zap.Logger
	// HTTPClient is used for every cloud call; nil builds the providers'
	// own pooled clients. Tests and the demo pass the fake cloud's client.
	HTTPClient *http.Client
	// BirthDelay overrides the random wait after Home Assistant's birth
	// message (tests make it short).
	BirthDelay func() time.Duration
	// OnBrokerStarted, when set, is called with the embedded broker's
	// address once it listens (the demo prints it).
	OnBrokerStarted func(addr string)
	// Levels, when set, lets bridge/request/log_level change the log
	// levels of Logger (built with logging.NewLogger from the same Levels).
	Levels *logging.Levels
	// OnHTTPStarted, when set, is called with the operations endpoint's
	// address once it listens (http.listen; tests listen on port 0).
	OnHTTPStarted func(addr string)
	// Metrics collects the Prometheus metrics served on /metrics. Run
	// creates it when nil; tests set it to read the figures.
	Metrics *metrics.Metrics
	// Clock replaces the system clock of the bridge's schedules (polls,
	// lists, retries) and of the providers (their host clock and push
	// connections); nil means the system clock. End-to-end tests pass a
	// fake to simulate hours without waiting.
	Clock clock.Clock
}

// ErrRestart is returned by Main.Run after a restart was requested over
// MQTT (bridge/request/restart or the restart button in Home Assistant),
// once everything has shut down; the caller should start the daemon
// afresh (cmd/kasa2mqtt re-executes itself).
var ErrRestart = errors.New("restart requested")

// run is one Main.Run under way: what the steps made, for the steps after
// them.
type run struct {
	ctx     context.Context
	cancel  context.CancelFunc
	restart atomic.Bool
	provs   []cloud.Provider
	opened  *Opened
	server  string // the broker URL the bridge connects to
	// maxPacket is the embedded broker's packet limit (0: another broker).
	maxPacket int
	bridge    *bridge.Bridge
}

// step starts one part of the daemon and returns what undoes it (nil:
// nothing to undo).
type step func(r *run) (closer func(), err error)

// Run starts everything and blocks until ctx is cancelled, then shuts down
// cleanly (bridge offline, MQTT disconnect, operations endpoint and broker
// stopped). It returns nil, ErrRestart, or the error that kept it from
// starting.
//
// The steps run in order, each returning a closer: the providers (closer:
// flush the energy meter), the embedded broker, the bridge, the operations
// endpoint and the systemd notifier (closer: STOPPING=1 or RELOADING=1).
// Once the bridge's Run returns, or when a step fails, the closers run in
// reverse.
//
// Run first fills the accounts' defaults in m.Config
// (config.Config.FillAccountDefaults), so that a Config built in code is
// run, and shown in bridge/info, as a loaded one would be.
func (m *Main) Run(ctx context.Context) error {
	if m.Config == nil || m.Logger == nil {
		return errors.New("daemon: Config and Logger are required")
	}
	m.Config.FillAccountDefaults()
	if m.Metrics == nil {
		m.Metrics = metrics.New()
	}
	m.Metrics.SetBuildInfo(version.Version, version.Commit)
	r := &run{}
	r.ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	for _, start := range []step{m.startProviders, m.startBroker, m.startBridge, m.startOps, m.startNotifier} {
		closer, err := start(r)
		if err != nil {
			return err
		}
		if closer != nil {
			closers = append(closers, closer)
		}
	}
	if err := r.bridge.Run(r.ctx); err != nil {
		return err
	}
	if r.restart.Load() {
		return ErrRestart
	}
	return nil
}

// alive reports whether the bridge's loop went round lately (/healthz and
// the systemd watchdog).
func (r *run) alive() bool { return r.bridge.Alive(aliveWindow) }
