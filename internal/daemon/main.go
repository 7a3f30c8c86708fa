// Package daemon wires a validated configuration into running parts: the
// embedded broker (when no broker is configured), one provider per cloud
// account, and the bridge. cmd/kasa2mqtt and the end-to-end tests in test/
// both drive the daemon through Main.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/internal/broker"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/metrics"
	"github.com/kasa2mqtt/kasa2mqtt/internal/ops"
)

// Version and Commit are set at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
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
	// levels of Logger (built with NewLogger from the same Levels).
	Levels *Levels
	// OnHTTPStarted, when set, is called with the operations endpoint's
	// address once it listens (http.listen; tests listen on port 0).
	OnHTTPStarted func(addr string)
	// Metrics collects the Prometheus metrics served on /metrics. Run
	// creates it when nil; tests set it to read the figures.
	Metrics *metrics.Metrics

	bridge *bridge.Bridge
}

// aliveWindow is how recently the bridge's loop must have gone round for
// /healthz and the systemd watchdog (the loop wakes at least every 15s).
const aliveWindow = 45 * time.Second

// ErrRestart is returned by Main.Run after a restart was requested over
// MQTT (bridge/request/restart or the restart button in Home Assistant);
// the caller should start the daemon afresh.
var ErrRestart = errors.New("restart requested")

// Run starts everything and blocks until ctx is cancelled, then shuts down
// cleanly (bridge offline, MQTT disconnect, broker stop). It returns nil,
// ErrRestart, or the error that kept it from starting.
func (m *Main) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var restart atomic.Bool
	cfg, log := m.Config, m.Logger
	if cfg == nil || log == nil {
		return errors.New("daemon: Config and Logger are required")
	}
	if m.Metrics == nil {
		m.Metrics = metrics.New()
	}
	m.Metrics.SetBuildInfo(Version, Commit)
	accts, _, err := OpenAccounts(cfg, m.HTTPClient, log, m.Metrics)
	if err != nil {
		return err
	}
	provs := Providers(accts)
	tlsConfig, err := cfg.MQTTTLSConfig()
	if err != nil {
		return err
	}
	server := cfg.MQTT.Server
	var brk *broker.Broker
	if server == "" {
		brk, err = broker.Start(broker.Options{
			Listen:   cfg.MQTT.Embedded.Listen,
			Username: cfg.MQTT.Username,
			Password: cfg.MQTT.Password,
			Logger:   log,
		})
		if err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
		defer brk.Close()
		server = brk.URL()
		log.Info("embedded MQTT broker listening", zap.String("address", brk.Addr()))
		if m.OnBrokerStarted != nil {
			m.OnBrokerStarted(brk.Addr())
		}
	}
	opts := bridge.Options{
		MQTT: bridge.MQTTOptions{
			Server:   server,
			ClientID: cfg.ClientID(),
			Username: cfg.MQTT.Username,
			Password: cfg.MQTT.Password,

			KeepAlive:            cfg.MQTT.KeepAlive,
			MaxReconnectInterval: cfg.MQTT.MaxReconnectInterval,
			TLSConfig:            tlsConfig,
		},
		Output:          cfg.MQTT.Output,
		Metrics:         m.Metrics,
		BaseTopic:       cfg.MQTT.BaseTopic,
		HomeAssistant:   cfg.HomeAssistant.Enabled,
		DiscoveryPrefix: cfg.HomeAssistant.DiscoveryPrefix,
		StatusTopic:     cfg.HomeAssistant.StatusTopic,
		Version:         Version,
		PollInterval:    cfg.Poll.Interval,
		ListInterval:    cfg.Poll.DeviceListInterval,
		MissedPolls:     cfg.Poll.UnavailableAfter,
		RequestTimeout:  cfg.Poll.RequestTimeout,
		Devices:         Overrides(cfg),
		StateDir:        cfg.StateDir,
		BirthDelay:      m.BirthDelay,
		Logger:          log.Named("bridge"),
		Commit:          Commit,
		Config:          publicConfig(cfg, log),
		Restart:         func() { restart.Store(true); cancel() },
		Advise:          Advise,
	}
	if m.Levels != nil {
		opts.LogLevel = m.Levels.String
		opts.SetLogLevel = m.Levels.Set
	}
	b, err := bridge.New(opts, provs...)
	if err != nil {
		return err
	}
	m.bridge = b
	log.Info("kasa2mqtt starting", zap.String("version", Version), zap.Int("accounts", len(provs)),
		zap.Duration("poll_interval", cfg.Poll.Interval), zap.String("state_dir", cfg.StateDir))

	alive := func() bool { return b.Alive(aliveWindow) }
	if cfg.HTTP.Listen != "" {
		srv := ops.NewServer(ops.ServerOptions{
			Listen:  cfg.HTTP.Listen,
			Ready:   b.Ready,
			Alive:   alive,
			Metrics: m.Metrics.Handler(),
			Logger:  log.Named("http"),
		})
		if err := srv.Start(ctx); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		defer func() {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer scancel()
			_ = srv.Close(sctx)
		}()
		log.Info("operations endpoint listening", zap.String("address", srv.Addr()))
		if m.OnHTTPStarted != nil {
			m.OnHTTPStarted(srv.Addr())
		}
	}

	// systemd: READY=1 once MQTT is connected, watchdog pings while the
	// bridge's loop goes round, STOPPING=1 on the way out. All no-ops when
	// not started by systemd with Type=notify.
	notifier := ops.NewNotifier(log.Named("systemd"))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-b.FirstConnect():
			notifier.Ready()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer wg.Done()
		notifier.RunWatchdog(ctx, alive)
	}()
	err = b.Run(ctx)
	if restart.Load() {
		// The process re-executes itself in place: to systemd this is a
		// reload, not a stop (after STOPPING=1 it would ignore the new
		// process's READY=1 and kill it at the stop timeout).
		notifier.Reloading()
	} else {
		notifier.Stopping()
	}
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	if restart.Load() {
		return ErrRestart
	}
	return nil
}

// publicConfig is the effective configuration with every secret masked, in
// the same shape and key names as the YAML file, for bridge/info.
func publicConfig(cfg *config.Config, log *zap.Logger) any {
	data, err := cfg.YAML()
	var m map[string]any
	if err == nil {
		err = yaml.Unmarshal(data, &m)
	}
	if err != nil {
		log.Warn("cannot show the configuration in bridge/info", zap.Error(err))
		return nil
	}
	return m
}
