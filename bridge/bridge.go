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

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
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
	// ListInterval between device-list reads, default 30m.
	ListInterval time.Duration
	// MissedPolls is how many consecutive failed reads (other than "device
	// offline", which counts at once) make a device unavailable. Default 2.
	MissedPolls int
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
}

// Bridge runs the MQTT side for a set of providers. Create with New, then
// call Run once.
type Bridge struct {
	opts      Options
	ov        *overrides
	log       *zap.Logger
	providers []cloud.Provider
	disc      discovery.Config

	events    chan event
	msgs      chan mqttMessage
	connected chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	online    atomic.Bool
}

// event is anything sent to the run loop: listEvent, statesEvent,
// resultEvent.
type event any

// mqttMessage is a command or Home Assistant status message, copied out of
// paho's handler.
type mqttMessage struct {
	topic    string
	payload  []byte
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
		opts.BaseTopic = "kasa2mqtt"
	}
	if opts.DiscoveryPrefix == "" {
		opts.DiscoveryPrefix = "homeassistant"
	}
	if opts.StatusTopic == "" {
		opts.StatusTopic = "homeassistant/status"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 60 * time.Second
	}
	if opts.ListInterval <= 0 {
		opts.ListInterval = 30 * time.Minute
	}
	if opts.MissedPolls <= 0 {
		opts.MissedPolls = 2
	}
	if opts.BirthDelay == nil {
		opts.BirthDelay = func() time.Duration { return time.Second + rand.N(4*time.Second) }
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	ov, err := newOverrides(opts.Devices, opts.StateDir)
	if err != nil {
		opts.Logger.Warn("ignoring the stored device options", zap.Error(err))
	}
	return &Bridge{
		opts:      opts,
		ov:        ov,
		log:       opts.Logger,
		providers: providers,
		disc: discovery.Config{
			Prefix:    opts.DiscoveryPrefix,
			BaseTopic: opts.BaseTopic,
			Origin: discovery.Origin{
				Name:       "kasa2mqtt",
				SWVersion:  opts.Version,
				SupportURL: "https://github.com/kasa2mqtt/kasa2mqtt",
			},
		},
		events:    make(chan event, 64),
		msgs:      make(chan mqttMessage, 1024),
		connected: make(chan struct{}, 1),
		ready:     make(chan struct{}),
	}, nil
}

// Ready is closed once the bridge first connected to the broker and
// published its state.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// Connected reports whether the MQTT connection is up now.
func (b *Bridge) Connected() bool { return b.online.Load() }

// Run connects, polls and serves commands until ctx is cancelled. It then
// publishes the bridge as offline, disconnects and returns nil once every
// goroutine it started has stopped. A configuration error is returned at once.
func (b *Bridge) Run(ctx context.Context) error {
	base := b.opts.BaseTopic
	client, err := newPahoClient(b.opts.MQTT, discovery.BridgeStateTopic(base), availabilityPayload(false), b.log.Named("mqtt"),
		b.onConnect, b.onConnectionLost, b.onMessage)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	ob := newOutbox(client, func() bool { return b.online.Load() && client.IsConnectionOpen() }, b.log.Named("mqtt"))
	wg.Go(func() { ob.run(loopCtx) })

	b.log.Info("connecting to the MQTT broker", zap.String("server", b.opts.MQTT.Server), zap.String("client_id", b.opts.MQTT.ClientID))
	client.Connect() // ConnectRetry: completes once connected; onConnect does the rest

	st := newRunState(b, ob, loopCtx)
	for _, p := range b.providers {
		pl := &poller{
			prov:         p,
			pollInterval: b.opts.PollInterval,
			listInterval: b.opts.ListInterval,
			skip:         func(id string) bool { return b.ov.get(id).Disabled },
			events:       b.events,
			relist:       make(chan struct{}, 1),
			log:          b.log.Named("poller").With(zap.String(keyAccount, p.Account())),
		}
		st.pollers[p] = pl
		wg.Go(func() { pl.run(loopCtx) })
	}

	birth := time.NewTimer(time.Hour)
	birth.Stop()
	defer birth.Stop()

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-b.connected:
			st.replay("connected")
			b.readyOnce.Do(func() { close(b.ready) })
		case <-birth.C:
			st.replay("home assistant restarted")
		case m := <-b.msgs:
			if m.topic == b.opts.StatusTopic {
				if strings.EqualFold(strings.TrimSpace(string(m.payload)), "online") {
					d := b.opts.BirthDelay()
					b.log.Info("home assistant is online; replaying discovery and state", zap.Duration("delay", d))
					birth.Reset(d)
				}
				continue
			}
			st.handleMessage(m)
		case ev := <-b.events:
			switch ev := ev.(type) {
			case listEvent:
				st.handleList(ev)
			case statesEvent:
				st.handleStates(ev)
			case resultEvent:
				st.handleResult(ev)
			}
		}
	}

	// Shutdown: stop producers, flush what is queued, say goodbye.
	cancel()
	st.stopWorkers()
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

// onConnect runs in a paho goroutine on every (re)connect: subscribe, then
// wake the run loop to republish everything.
func (b *Bridge) onConnect(c paho.Client) {
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
			b.log.Warn("connection lost while subscribing; paho will reconnect", zap.Error(err))
			return
		}
		b.log.Error("subscribing to command topics failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		time.Sleep(min(time.Duration(attempt)*2*time.Second, 30*time.Second))
	}
	b.online.Store(true)
	b.log.Info("connected to the MQTT broker")
	select {
	case b.connected <- struct{}{}:
	default:
	}
}

func (b *Bridge) onConnectionLost(err error) {
	b.online.Store(false)
	b.log.Warn("lost the MQTT connection; reconnecting", zap.Error(err))
}

// onMessage runs in paho's goroutines: it keeps only command and status
// messages (our own state echoes are dropped here) and never blocks.
func (b *Bridge) onMessage(_ paho.Client, m paho.Message) {
	topic := m.Topic()
	if topic != b.opts.StatusTopic {
		if _, ok := parseCommandTopic(b.opts.BaseTopic, topic); !ok {
			return
		}
	}
	msg := mqttMessage{topic: topic, payload: append([]byte(nil), m.Payload()...), retained: m.Retained()}
	select {
	case b.msgs <- msg:
	default:
		b.log.Warn("command queue full, dropping message", zap.String(keyTopic, topic), zap.String(keyPayload, quotePayload(msg.payload)))
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
