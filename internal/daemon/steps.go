package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/internal/broker"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/ops"
	"github.com/kasa2mqtt/kasa2mqtt/internal/version"
)

// aliveWindow is how recently the bridge's loop must have gone round for
// /healthz and the systemd watchdog (the loop wakes at least every 15s).
const aliveWindow = 45 * time.Second

// opsCloseTimeout bounds the operations endpoint's shutdown.
const opsCloseTimeout = 5 * time.Second

// startProviders opens every account; its closer flushes the energy meter.
func (m *Main) startProviders(r *run) (func(), error) {
	op, err := openAccounts(m.Config, m.HTTPClient, m.Logger, m.Metrics, m.Clock)
	if err != nil {
		return nil, err
	}
	r.provs, r.opened = Providers(op.Accounts), op
	return func() {
		if err := op.Energy.Flush(); err != nil {
			m.Logger.Warn("cannot store the energy totals", zap.Error(err))
		}
		if err := op.Calls.Flush(); err != nil {
			m.Logger.Warn("cannot store the call counts", zap.Error(err))
		}
	}, nil
}

// startBroker starts the embedded broker when mqtt.server is empty.
func (m *Main) startBroker(r *run) (func(), error) {
	cfg := m.Config
	r.server = cfg.MQTT.Server
	if r.server != "" {
		return nil, nil
	}
	e := cfg.MQTT.Embedded
	tlsConfig, err := cfg.EmbeddedTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	brk, err := broker.Start(broker.Options{
		Listen:           e.Listen,
		TLSListen:        e.TLS.Listen,
		TLSConfig:        tlsConfig,
		WebSocketListen:  e.WebSocket.Listen,
		WebSocketOrigins: e.WebSocket.AllowedOrigins,
		Username:         cfg.MQTT.Username,
		Password:         cfg.MQTT.Password,
		StateFile:        cfg.EmbeddedStatePath(),
		MaxPacketSize:    uint32(e.MaxPacketSize),
		Logger:           m.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	r.server = brk.URL()
	r.maxPacket = int(broker.Capabilities(uint32(e.MaxPacketSize)).MaximumPacketSize)
	m.Logger.Info("embedded MQTT broker listening", zap.String("address", brk.Addr()), zap.String("tls_address", brk.TLSAddr()),
		zap.String("websocket_address", brk.WebSocketAddr()), zap.Bool("persistence", e.Persistence))
	if m.OnBrokerStarted != nil {
		m.OnBrokerStarted(brk.Addr())
	}
	return func() { _ = brk.Close() }, nil
}

// startBridge builds the bridge (Run then runs it).
func (m *Main) startBridge(r *run) (func(), error) {
	cfg, log := m.Config, m.Logger
	tlsConfig, err := cfg.MQTTTLSConfig()
	if err != nil {
		return nil, err
	}
	opts := bridge.Options{
		MQTT: bridge.MQTTOptions{
			Server:   r.server,
			ClientID: cfg.ClientID(),
			Username: cfg.MQTT.Username,
			Password: cfg.MQTT.Password,

			KeepAlive:            cfg.MQTT.KeepAlive,
			MaxReconnectInterval: cfg.MQTT.MaxReconnectInterval,
			TLSConfig:            tlsConfig,
			MaxPacketSize:        r.maxPacket,
		},
		Output:            cfg.MQTT.Output,
		Metrics:           m.Metrics,
		BaseTopic:         cfg.MQTT.BaseTopic,
		HomeAssistant:     cfg.HomeAssistant.Enabled,
		DiscoveryPrefix:   cfg.HomeAssistant.DiscoveryPrefix,
		StatusTopic:       cfg.HomeAssistant.StatusTopic,
		Version:           version.Version,
		Commit:            version.Commit,
		PollInterval:      cfg.Poll.Interval,
		ReconcileInterval: cfg.Poll.ReconcileInterval,
		Clock:             m.Clock,
		ListInterval:      cfg.Poll.DeviceListInterval,
		MissedPolls:       cfg.Poll.UnavailableAfter,
		RequestTimeout:    cfg.Poll.RequestTimeout,
		Concurrency:       cfg.Poll.Concurrency,
		Budgets:           r.opened.Budgets,
		Calls:             r.opened.Calls,
		Devices:           Overrides(cfg),
		StateDir:          cfg.StateDir,
		BirthDelay:        m.BirthDelay,
		Logger:            log.Named("bridge"),
		Config:            publicConfig(cfg, log),
		Restart:           func() { r.restart.Store(true); r.cancel() },
		Advise:            Advise,
	}
	if m.Levels != nil {
		opts.LogLevel = m.Levels.String
		opts.SetLogLevel = m.Levels.Set
	}
	b, err := bridge.New(opts, r.provs...)
	if err != nil {
		return nil, err
	}
	r.bridge = b
	log.Info("kasa2mqtt starting", zap.String("version", version.Version), zap.Int("accounts", len(r.provs)),
		zap.Duration("poll_interval", cfg.Poll.Interval), zap.String("state_dir", cfg.StateDir))
	return nil, nil
}

// startOps starts the operations endpoint when http.listen is set.
func (m *Main) startOps(r *run) (func(), error) {
	if m.Config.HTTP.Listen == "" {
		return nil, nil
	}
	srv := ops.NewServer(ops.ServerOptions{
		Listen:  m.Config.HTTP.Listen,
		Ready:   r.bridge.Ready,
		Detail:  r.bridge.Attention,
		Alive:   r.alive,
		Metrics: m.Metrics.Handler(),
		Pprof:   m.Config.HTTP.Pprof,
		Logger:  m.Logger.Named("http"),
	})
	if err := srv.Start(r.ctx); err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	m.Logger.Info("operations endpoint listening", zap.String("address", srv.Addr()))
	if m.OnHTTPStarted != nil {
		m.OnHTTPStarted(srv.Addr())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), opsCloseTimeout)
		defer cancel()
		_ = srv.Close(ctx)
	}, nil
}

// startNotifier tells systemd READY=1 once MQTT is connected and pings the
// watchdog while the bridge's loop goes round (all no-ops when not started
// by systemd with Type=notify). Its closer says STOPPING=1, or RELOADING=1
// when the process is about to re-execute itself (to systemd a restart
// requested over MQTT is a reload: after STOPPING=1 it would ignore the new
// process's READY=1 and kill it at the stop timeout), then stops both.
func (m *Main) startNotifier(r *run) (func(), error) {
	notifier := ops.NewNotifier(m.Logger.Named("systemd"))
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-r.bridge.FirstConnect():
			notifier.Ready()
		case <-r.ctx.Done():
		}
	})
	wg.Go(func() { notifier.RunWatchdog(r.ctx, r.alive) })
	return func() {
		if r.restart.Load() {
			notifier.Reloading()
		} else {
			notifier.Stopping()
		}
		r.cancel()
		wg.Wait()
	}, nil
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
