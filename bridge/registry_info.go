package bridge

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// What the registry publishes about the bridge itself: events,
// bridge/devices, bridge/info, health_check and the replay.

// event publishes one bridge event (not retained; the publisher holds it
// while the broker is away).
func (r *registry) event(typ string, data any) {
	payload, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	r.emit(eventEffect{payload})
}

// deviceEvent is the data of device_* events.
type deviceEvent struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Account  string `json:"account"`
	Name     string `json:"name"`
	Topic    string `json:"topic"`
	From     string `json:"from,omitempty"`
}

func (r *registry) deviceEvent(typ string, dv *device, from string) {
	r.event(typ, deviceEvent{ID: dv.dev.ID, Provider: dv.dev.Provider, Account: dv.prov.Account(), Name: dv.dev.Name, Topic: dv.topic, From: from})
}

// bridgeDevice is one entry of the retained <base>/bridge/devices list.
type bridgeDevice struct {
	ID           string             `json:"id"`
	Provider     string             `json:"provider"`
	Account      string             `json:"account"`
	Name         string             `json:"name"`
	Topic        string             `json:"topic"`
	Model        string             `json:"model"`
	Manufacturer string             `json:"manufacturer"`
	Firmware     string             `json:"firmware,omitempty"`
	Hardware     string             `json:"hardware,omitempty"`
	MAC          string             `json:"mac,omitempty"`
	Parent       *string            `json:"parent"`
	Online       bool               `json:"online"`
	Capabilities []cloud.Capability `json:"capabilities"`
	// ColorTemp is a light's colour temperature range in Kelvin.
	ColorTemp *kelvinRange `json:"color_temp,omitempty"`
	// Readings are what the energy meter of a device with the energy
	// capability reports (power, voltage, current, energy).
	Readings []cloud.Reading `json:"readings,omitempty"`
}

type kelvinRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

func (r *registry) deviceList() []byte {
	list := []bridgeDevice{}
	for _, dv := range r.sortedDevices() {
		d := dv.dev
		bd := bridgeDevice{ID: d.ID, Provider: d.Provider, Account: dv.prov.Account(), Name: d.Name, Topic: dv.topic,
			Model: d.Model, Manufacturer: d.Manufacturer, Firmware: d.FirmwareVersion, Hardware: d.HardwareVersion,
			MAC: d.MAC, Online: dv.available, Capabilities: d.Capabilities}
		if d.ParentID != "" {
			parent := d.ParentID
			bd.Parent = &parent
		}
		if bd.Capabilities == nil {
			bd.Capabilities = []cloud.Capability{}
		}
		if d.Has(cloud.CapColorTemp) && d.ColorTemp.Valid() {
			bd.ColorTemp = &kelvinRange{d.ColorTemp.Min, d.ColorTemp.Max}
		}
		bd.Readings = d.EnergyReadings()
		list = append(list, bd)
	}
	payload, _ := json.Marshal(list)
	return payload
}

func (r *registry) publishDeviceList() {
	r.emit(retainEffect{r.opts.BaseTopic + "/bridge/devices", r.deviceList(), true})
}

// accountInfo is one account in bridge/info and health_check.
type accountInfo struct {
	Provider    string     `json:"provider"`
	Status      string     `json:"status"` // starting, ok, auth_error, rate_limited, error
	Problem     bool       `json:"problem"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	LoggedIn    *bool      `json:"logged_in,omitempty"`
	CallsToday  int        `json:"calls_today"`
	Devices     int        `json:"devices"`
	// PollInterval is the interval the account's devices are read at, in
	// seconds (longer than poll.interval when stretched); absent until
	// the first list.
	PollInterval float64 `json:"poll_interval_s,omitempty"`
	// PollStretched says why it is longer: "budget" or "cycle".
	PollStretched string `json:"poll_stretched,omitempty"`
	// ListInterval is the device-list interval in seconds, when known.
	ListInterval float64 `json:"device_list_interval_s,omitempty"`
	// Calls are the calls this UTC day and month and the budget.
	Calls *callsInfo `json:"calls,omitempty"`
	// Push is the account's push connection, for providers that push.
	Push *pushInfo `json:"push,omitempty"`
}

type bridgeInfo struct {
	Version       string                 `json:"version"`
	Commit        string                 `json:"commit,omitempty"`
	StartedAt     time.Time              `json:"started_at"`
	UptimeSeconds int64                  `json:"uptime_seconds"`
	LogLevel      string                 `json:"log_level,omitempty"`
	Output        string                 `json:"output"`
	Devices       int                    `json:"devices"`
	Accounts      map[string]accountInfo `json:"accounts"`
	Config        any                    `json:"config,omitempty"`
}

func (r *registry) accountInfos() map[string]accountInfo {
	out := map[string]accountInfo{}
	for _, p := range r.providers {
		as := r.accounts.status(p)
		ai := accountInfo{Provider: p.Kind(), Status: as.status, LastError: as.lastErr, Problem: as.problem()}
		var pushProblem bool
		ai.Push, pushProblem = r.pushInfoOf(p)
		ai.Problem = ai.Problem || pushProblem
		if !as.errAt.IsZero() {
			t := as.errAt
			ai.LastErrorAt = &t
		}
		if sr, ok := p.(cloud.StatsReporter); ok {
			s := sr.Stats()
			ai.LoggedIn, ai.CallsToday = &s.LoggedIn, s.CallsToday
		}
		if t := r.tally[p]; t != nil {
			ai.Devices = t[0]
		}
		if r.polls != nil {
			ps := r.polls(p)
			ai.PollInterval, ai.PollStretched, ai.ListInterval = ps.interval.Seconds(), ps.stretched, ps.list.Seconds()
		}
		ai.Calls = accountCallsInfo(r.opts.Calls, r.opts.Budgets[p], p, r.clock.Now())
		out[p.Account()] = ai
	}
	return out
}

// bridgeInfo builds bridge/info and its payload (nil if it cannot be
// encoded, which is logged).
func (r *registry) bridgeInfo() (bridgeInfo, []byte) {
	o := r.opts
	info := bridgeInfo{
		Version: o.Version, Commit: o.Commit, StartedAt: r.started.UTC().Truncate(time.Second),
		UptimeSeconds: int64(r.clock.Now().Sub(r.started).Seconds()), Output: o.Output,
		Devices: len(r.devices), Accounts: r.accountInfos(), Config: o.Config,
	}
	if o.LogLevel != nil {
		info.LogLevel = o.LogLevel()
	}
	payload, err := json.Marshal(info)
	if err != nil {
		r.log.Error("cannot encode bridge/info", zap.Error(err))
		return info, nil
	}
	return info, payload
}

// publishInfo publishes (retained) and returns bridge/info.
func (r *registry) publishInfo() bridgeInfo {
	info, payload := r.bridgeInfo()
	if payload != nil {
		r.emit(retainEffect{discovery.BridgeInfoTopic(r.opts.BaseTopic), payload, true})
	}
	return info
}

// info republishes bridge/info (uptime, calls today); the run loop calls
// it every minute while connected.
func (r *registry) info() []effect {
	r.publishInfo()
	return r.done()
}

// health is the health_check answer.
func (r *registry) health() map[string]any {
	accounts := r.accountInfos()
	connected := r.connected()
	healthy := connected
	for _, a := range accounts {
		if a.Problem {
			healthy = false
		}
	}
	return map[string]any{"healthy": healthy, "mqtt_connected": connected, "accounts": accounts}
}

// bridgeConfig is the bridge's own Home Assistant device; nil without
// discovery or when it cannot be built (logged).
func (r *registry) bridgeConfig() *message {
	if !r.opts.HomeAssistant {
		return nil
	}
	var names []string
	for _, p := range r.providers {
		names = append(names, p.Account())
	}
	slices.Sort(names)
	payload, err := discovery.BridgePayload(r.disc, discovery.Bridge{Accounts: names})
	if err != nil {
		r.log.Error("cannot build the bridge's discovery payload", zap.Error(err))
		return nil
	}
	return &message{topic: discovery.BridgeConfigTopic(r.disc), payload: payload, retained: true}
}

// replay republishes everything retained (after every connect and Home
// Assistant birth); see publisher.replay for the order.
func (r *registry) replay(why string) []effect {
	r.log.Info("publishing discovery, availability and state", zap.String("reason", why), zap.Int("devices", len(r.devices)))
	var s replaySet
	devs := r.sortedDevices()
	for _, dv := range devs {
		if !r.opts.HomeAssistant {
			break
		}
		if m, ok := r.discoveryMessage(dv); ok {
			s.discovery = append(s.discovery, m)
		}
	}
	base := r.opts.BaseTopic
	for _, dv := range devs {
		dv.availPublished = true
		s.availability = append(s.availability, message{topic: discovery.AvailabilityTopic(base, dv.topic), payload: availabilityPayload(dv.available)})
	}
	// Devices published by an earlier run but not (yet) listed by this one
	// must not keep a retained "online" from the past: until their account
	// lists them again (or clears them), they are offline.
	for _, key := range slices.Sorted(maps.Keys(r.known)) {
		if _, waiting := r.pending[key]; waiting {
			continue // no longer bridged; its topics are about to be cleared
		}
		if kd := r.known[key]; r.devices[key] == nil && kd.Topic != "" {
			s.offline = append(s.offline, message{topic: discovery.AvailabilityTopic(base, kd.Topic), payload: availabilityPayload(false)})
		}
	}
	for _, dv := range devs {
		if payload := encodeState(dv.dev, dv.state); payload != nil {
			s.states = append(s.states, message{topic: dv.topic, payload: payload})
		}
	}
	s.devices = r.deviceList()
	s.bridgeConfig = r.bridgeConfig()
	_, s.info = r.bridgeInfo()
	r.emit(replayEffect{s})
	// The replay delivers the discovery clears again (and for the first
	// time when they were made while the broker was away).
	r.restartGrace()
	return r.done()
}
