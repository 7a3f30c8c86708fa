package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
	iclock "github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

// DeviceOverride changes how one device (keyed by its cloud id) is bridged.
type DeviceOverride struct {
	// Name replaces the name from the vendor app.
	Name string
	// Topic replaces the slugified name as the topic segment.
	Topic string
	// Disabled: the device is neither read nor published, and its retained
	// topics and discovery are cleared.
	Disabled bool
}

// Options configure a Bridge. Zero values take the documented defaults.
type Options struct {
	// MQTT is the broker connection. Required: Server and ClientID.
	MQTT MQTTOptions
	// BaseTopic prefixes every topic. Default "kasa2mqtt".
	BaseTopic string
	// HomeAssistant enables discovery publishing.
	HomeAssistant bool
	// DiscoveryPrefix, default "homeassistant".
	DiscoveryPrefix string
	// StatusTopic is where Home Assistant announces itself, default
	// "homeassistant/status".
	StatusTopic string
	// Version is reported in discovery's origin block.
	Version string
	// PollInterval between state reads, default 60s.
	PollInterval time.Duration
	// ReconcileInterval replaces PollInterval for an account whose
	// provider pushes changes (cloud.Pusher) while its push connection is
	// healthy, default 10m: the reads then only reconcile.
	ReconcileInterval time.Duration
	// ListInterval between device-list reads, default 30m.
	ListInterval time.Duration
	// MissedPolls is how many consecutive failed reads (other than "device
	// offline", which counts at once) make a device unavailable. Default 2.
	MissedPolls int
	// RequestTimeout is the providers' bound on one cloud request
	// (poll.request_timeout), default 20s. A command's calls get
	// (1 + retries) × RequestTimeout plus the waits between retries, so
	// that an attempt that hangs still leaves room for every retry; a
	// rename and the re-read after a command get RequestTimeout.
	RequestTimeout time.Duration
	// Concurrency bounds the reads in flight per account
	// (poll.concurrency); <= 0 means DefaultConcurrency.
	Concurrency int
	// Budgets are the accounts' call budgets (accounts[].budget); an
	// account missing from it has none. They take effect with Calls.
	Budgets map[cloud.Provider]cloud.Budget
	// Calls counts every account's cloud calls (the providers' observer
	// feeds it): the budgets are kept with it, and the counts shown in
	// bridge/info and the metrics. Nil: no budgets, no counts. The bridge
	// flushes it every minute.
	Calls *cloud.CallLedger
	// Devices overrides per cloud id.
	Devices map[string]DeviceOverride
	// StateDir holds bridge-devices.json (what was published, to clear
	// ghosts after a restart). Empty: not persisted.
	StateDir string
	// BirthDelay returns the wait between Home Assistant's "online" and the
	// replay of discovery and state. Default: random 1–5 s.
	BirthDelay func() time.Duration
	// Logger, default zap.NewNop().
	Logger *zap.Logger

	// Commit is reported in bridge/info.
	Commit string
	// Config is the redacted effective configuration, shown in bridge/info.
	Config any
	// Output is OutputJSON (default), OutputAttribute or
	// OutputAttributeAndJSON.
	Output string
	// LogLevel returns the current log level for bridge/info; optional.
	LogLevel func() string
	// SetLogLevel serves bridge/request/log_level (component "" = all);
	// nil answers that the level cannot be changed.
	SetLogLevel func(component, level string) error
	// Restart serves bridge/request/restart (and the bridge's restart
	// button): it should make the process restart. Nil refuses.
	Restart func()
	// Metrics receives MQTT, poll and device figures; nil means none.
	Metrics Metrics
	// Advise, when set, returns an account's error with what a person
	// should do about it added (such as the command that logs the account
	// in again), or the error unchanged; bridge/info, the account_error
	// event and the log show what it returns. Nil adds nothing.
	Advise func(p cloud.Provider, err error) error

	// Clock replaces the system clock (timers and time stamps; see clock)
	// for end-to-end tests; nil: the system clock.
	Clock iclock.Clock

	// clock replaces the system clock in this package's tests; nil: Clock.
	clock clock
}

// Output modes for device state (zigbee2mqtt semantics).
const (
	// OutputJSON publishes one JSON object on <base>/<dev>.
	OutputJSON = "json"
	// OutputAttribute publishes each value on <base>/<dev>/<key>.
	OutputAttribute = "attribute"
	// OutputAttributeAndJSON does both.
	OutputAttributeAndJSON = "attribute_and_json"
)

// Metrics is what the bridge reports for monitoring. Implementations must
// be safe for concurrent use and must not block.
type Metrics interface {
	MQTTMessage(direction string)
	// ObservePoll records one read (one ReadStates call of a poll).
	ObservePoll(provider, account string, d time.Duration)
	// SetPollInterval records an account's effective poll interval.
	SetPollInterval(provider, account string, d time.Duration)
	// SetCalls records an account's cloud calls this UTC day and month,
	// and what is left of its budget (negative: it has none).
	SetCalls(provider, account string, day, month, left int)
	SetDevices(provider, account string, n int)
	SetDevicesOnline(provider, account string, n int)
	SetMQTTConnected(connected bool)
}

// Bridge runs the MQTT side for a set of providers. Create with New, then
// call Run once.
type Bridge struct {
	opts      Options
	ov        *overrides
	log       *zap.Logger
	providers []cloud.Provider
	disc      discovery.Config
	// controls are the pollers' controls, by provider.
	controls map[cloud.Provider]*pollControl

	events    chan event
	msgs      chan mqttMessage
	connected chan struct{}
	// lost is signalled (never blocking) when the MQTT connection drops.
	lost      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	online    atomic.Bool
	// lostCount counts onConnectionLost calls, so that onConnect (another
	// paho goroutine) can tell that the connection it set up was lost
	// while it subscribed.
	lostCount atomic.Int64
	started   time.Time
	// waiting lists the accounts not yet in a steady state (for Ready).
	waiting atomic.Pointer[[]string]
	// attention lists the accounts stopped on an authentication error.
	attention atomic.Pointer[[]string]
	// heartbeat is when the run loop last went round (for Alive), as the
	// monotonic time since started, so wall-clock steps (NTP on a board
	// without a real-time clock) do not make the bridge look stuck.
	heartbeat atomic.Int64
}

// event is anything sent to the run loop: listEvent, statesEvent,
// resultEvent, pushEvent, pushStatusEvent, removalSentEvent.
type event any

// mqttMessage is a command or Home Assistant status message, copied out of
// paho's handler. A payload larger than maxPayload is refused unread, so
// only its first maxPayload+1 bytes are copied; size is the full length.
type mqttMessage struct {
	topic    string
	payload  []byte
	size     int
	retained bool
}

// New checks opts, fills defaults and returns a Bridge for providers.
func New(opts Options, providers ...cloud.Provider) (*Bridge, error) {
	if opts.MQTT.Server == "" || opts.MQTT.ClientID == "" {
		return nil, errors.New("bridge: MQTT server and client id are required")
	}
	if _, err := brokerURL(opts.MQTT.Server); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	if opts.BaseTopic == "" {
		opts.BaseTopic = DefaultBaseTopic
	}
	if opts.DiscoveryPrefix == "" {
		opts.DiscoveryPrefix = DefaultDiscoveryPrefix
	}
	if opts.StatusTopic == "" {
		opts.StatusTopic = DefaultStatusTopic
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ListInterval <= 0 {
		opts.ListInterval = DefaultListInterval
	}
	if opts.MissedPolls <= 0 {
		opts.MissedPolls = DefaultMissedPolls
	}
	if opts.BirthDelay == nil {
		opts.BirthDelay = func() time.Duration { return time.Second + rand.N(4*time.Second) }
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ReconcileInterval <= 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	if opts.clock == nil {
		opts.clock = iclock.Or(opts.Clock)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	switch opts.Output {
	case "":
		opts.Output = OutputJSON
	case OutputAttribute:
		if opts.HomeAssistant {
			return nil, errors.New("bridge: output \"attribute\" publishes no JSON state, which Home Assistant discovery reads: use \"attribute_and_json\" or disable Home Assistant")
		}
	case OutputJSON, OutputAttributeAndJSON:
	default:
		return nil, fmt.Errorf("bridge: output %q: want %s, %s or %s", opts.Output, OutputJSON, OutputAttribute, OutputAttributeAndJSON)
	}
	ov, err := newOverrides(opts.Devices, opts.StateDir)
	if err != nil {
		opts.Logger.Warn("ignoring the stored device options", zap.Error(err))
	}
	b := &Bridge{
		opts:      opts,
		ov:        ov,
		log:       opts.Logger,
		providers: providers,
		disc: discovery.Config{
			Prefix:    opts.DiscoveryPrefix,
			BaseTopic: opts.BaseTopic,
			ViaBridge: true,
			Origin: discovery.Origin{
				Name:       "kasa2mqtt",
				SWVersion:  opts.Version,
				SupportURL: "https://github.com/kasa2mqtt/kasa2mqtt",
			},
		},
		controls:  map[cloud.Provider]*pollControl{},
		events:    make(chan event, 64),
		msgs:      make(chan mqttMessage, 1024),
		connected: make(chan struct{}, 1),
		lost:      make(chan struct{}, 1),
		ready:     make(chan struct{}),
		started:   opts.clock.Now(),
	}
	for _, p := range providers {
		b.controls[p] = newPollControl()
		if bu := opts.Budgets[p]; !bu.IsZero() && opts.Calls != nil {
			opts.Calls.SetBudget(p.Kind(), p.Account(), bu)
		}
	}
	// A bridge that was just built counts as alive until Run's loop takes
	// over the heartbeat.
	b.heartbeat.Store(0)
	return b, nil
}

// SetPollInterval sets the interval p's devices are read at (still
// stretched when its budget or a full cycle of reads needs more), for a
// provider that is told of changes by other means and polls only to
// reconcile (d <= 0: back to poll.interval). Safe for concurrent use; it
// takes effect at the account's next read.
func (b *Bridge) SetPollInterval(p cloud.Provider, d time.Duration) {
	if c := b.controls[p]; c != nil {
		c.setBase(d)
	}
}

// Ready returns nil when the bridge is connected to MQTT and every account
// is polling or stopped on a reported error; otherwise the reason. Safe for
// concurrent use (for /readyz).
func (b *Bridge) Ready() error {
	if !b.online.Load() {
		return errors.New("not connected to the MQTT broker")
	}
	if w := b.waiting.Load(); w == nil {
		return errors.New("starting")
	} else if len(*w) > 0 {
		return fmt.Errorf("waiting for the first device list of: %s", strings.Join(*w, ", "))
	}
	return nil
}

// Attention returns, for each account stopped on an authentication error
// that a person must resolve (a refused password, a login needed), one
// line "account <name>: <error>; <advice>", for the /readyz detail: such
// an account does not make the bridge unready. Safe for concurrent use.
func (b *Bridge) Attention() []string {
	if a := b.attention.Load(); a != nil {
		return *a
	}
	return nil
}

// Alive reports whether the run loop went round in the last d (it wakes at
// least every 15 s): false means it is stuck. For the systemd watchdog.
func (b *Bridge) Alive(d time.Duration) bool {
	return b.opts.clock.Now().Sub(b.started)-time.Duration(b.heartbeat.Load()) < d
}

// FirstConnect is closed once the bridge first connected to the broker and
// published its state.
func (b *Bridge) FirstConnect() <-chan struct{} { return b.ready }

// Connected reports whether the MQTT connection is up now.
func (b *Bridge) Connected() bool { return b.online.Load() }

// Run connects, polls and serves commands until ctx is cancelled. It then
// publishes the bridge as offline, disconnects and returns nil once every
// goroutine it started has stopped. A configuration error is returned at once.
func (b *Bridge) Run(ctx context.Context) error {
	base := b.opts.BaseTopic
	client, err := newPahoClient(b.opts.MQTT, discovery.BridgeStateTopic(base), availabilityPayload(false),
		b.onConnect, b.onConnectionLost, b.onMessage)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	ob := newOutbox(client, func() bool { return b.online.Load() && client.IsConnectionOpen() }, b.log.Named("mqtt"))
	ob.maxPacket = b.opts.MQTT.MaxPacketSize
	ob.sent = func(m message) {
		if b.opts.Metrics != nil {
			b.opts.Metrics.MQTTMessage("out")
		}
		if m.removal != nil {
			select {
			case b.events <- removalSentEvent{*m.removal}:
			case <-loopCtx.Done():
			}
		}
	}
	wg.Go(func() { ob.run(loopCtx) })

	b.log.Info("connecting to the MQTT broker", zap.String("server", b.opts.MQTT.Server), zap.String("client_id", b.opts.MQTT.ClientID))
	// keepConnected connects and reconnects; onConnect does the rest.
	wg.Go(func() {
		keepConnected(loopCtx, client, b.lost, b.opts.MQTT.MaxReconnectInterval, b.opts.clock, b.log.Named("mqtt"))
	})

	l := newRunLoop(loopCtx, b, ob)
	for _, p := range b.providers {
		pl := &poller{
			prov:           p,
			pollInterval:   b.opts.PollInterval,
			listInterval:   b.opts.ListInterval,
			concurrency:    b.opts.Concurrency,
			requestTimeout: b.opts.RequestTimeout,
			skip:           func(id string) bool { return b.ov.get(id).Disabled },
			events:         b.events,
			relist:         make(chan struct{}, 1),
			hurry:          make(chan string, 64),
			control:        b.controls[p],
			pace:           newPacer(b.opts.Budgets[p], b.callCounter(p)),
			push:           newPushGate(b.opts.ReconcileInterval),
			log:            b.log.Named("poller").With(zap.String(keyAccount, p.Account())),
			metrics:        b.opts.Metrics,
			clock:          b.opts.clock,
		}
		l.pollers[p] = pl
		wg.Go(func() { pl.run(loopCtx) })
		if pu, ok := p.(cloud.Pusher); ok {
			wg.Go(func() { pu.Push(loopCtx, pushSink{prov: p, events: b.events, done: loopCtx.Done()}) })
		}
	}
	l.run(ctx)

	// Shutdown: stop producers, flush what is queued, say goodbye.
	cancel()
	l.stopWorkers()
	wg.Wait()
	if client.IsConnectionOpen() {
		ob.flush(2 * time.Second)
		tok := client.Publish(discovery.BridgeStateTopic(base), 1, true, availabilityPayload(false))
		if err := waitToken(context.Background(), tok, 2*time.Second); err != nil {
			b.log.Warn("could not publish the offline state", zap.Error(err))
		}
	}
	client.Disconnect(250)
	b.online.Store(false)
	b.log.Info("stopped")
	return nil
}
