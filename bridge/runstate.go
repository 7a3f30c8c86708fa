package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// device is the run loop's record of one bridged device.
type device struct {
	key  string       // provider/id
	dev  cloud.Device // Name is the display name (override or cloud name)
	prov cloud.Provider
	// cloudName is the name the vendor app shows.
	cloudName string

	topic     string
	state     *cloud.State // last good read
	available bool
	misses    int
	lastErr   string

	// confirmedAt is when the newest command re-read started; poll results
	// that started earlier are older than what is published and are ignored.
	confirmedAt time.Time
	// relayIntent is the relay target of commands still in the worker's
	// queue, so TOGGLE twice in a row does what the user meant.
	relayIntent *bool
	inflight    int

	worker *worker

	pubDiscovery []byte
	pubState     []byte
	pubAvail     []byte
}

// accountStatus remembers the last error per account so that a failing
// account logs once per distinct error and once when it recovers.
type accountStatus struct {
	// status is starting (nothing listed yet), ok, auth_error,
	// rate_limited or error.
	status  string
	errAt   time.Time
	lastErr string
	since   time.Time
	count   int
}

// runState is everything the run loop owns. Only the run loop touches it.
type runState struct {
	b     *Bridge
	ov    *overrides
	log   *zap.Logger
	out   *outbox
	ctx   context.Context
	base  string
	known knownFile // persists knownDev

	devices  map[string]*device
	byTopic  map[string]*device
	pollers  map[cloud.Provider]*poller
	accounts map[cloud.Provider]*accountStatus
	knownDev map[string]knownDevice
	skipped  map[string]bool // disabled or duplicate ids, logged once
	// cleared holds the topics emptied this run; every replay empties them
	// again, because a clear published while the broker was away is lost.
	cleared map[string]bool
	// relisted is when each account was last asked to re-list early.
	relisted map[cloud.Provider]time.Time
	// heldEvents are bridge events raised while not connected; the next
	// replay sends them.
	heldEvents []message
}

func newRunState(b *Bridge, out *outbox, ctx context.Context) *runState {
	st := &runState{
		b: b, ov: b.ov, log: b.log, out: out, ctx: ctx, base: b.opts.BaseTopic,
		known:    newKnownFile(b.opts.StateDir),
		devices:  map[string]*device{},
		byTopic:  map[string]*device{},
		pollers:  map[cloud.Provider]*poller{},
		accounts: map[cloud.Provider]*accountStatus{},
		skipped:  map[string]bool{},
		cleared:  map[string]bool{},
		relisted: map[cloud.Provider]time.Time{},
	}
	k, err := st.known.load()
	if err != nil {
		b.log.Warn("could not read the list of published devices; stale ones may need manual clearing", zap.Error(err))
	}
	st.knownDev = k
	// Devices of accounts that are no longer configured will never be
	// listed again: clear them (the clears are replayed on connect).
	configured := map[string]bool{}
	for _, p := range b.providers {
		configured[p.Kind()+"/"+p.Account()] = true
	}
	for key, kd := range st.knownDev {
		if !configured[kd.Provider+"/"+kd.Account] {
			st.clearTopics(kd.Topic, kd.ConfigTopic)
			delete(st.knownDev, key)
			b.log.Info("clearing a device of an account that is no longer configured",
				zap.String(keyAccount, kd.Account), zap.String(keyDeviceID, kd.ID), zap.String(keyTopic, kd.Topic))
		}
	}
	return st
}

func deviceKey(provider, id string) string { return provider + "/" + id }

func (st *runState) stopWorkers() {
	for _, d := range st.devices {
		if d.worker != nil {
			d.worker.stop()
		}
	}
}

// publish queues a retained publication. An empty payload clears the
// topic on the broker and is remembered for replays.
func (st *runState) publish(topic string, payload []byte) {
	if len(payload) == 0 {
		st.cleared[topic] = true
	} else {
		delete(st.cleared, topic)
	}
	st.out.put(message{topic: topic, payload: payload, retained: true})
}

// displayName is the override name, else the cloud name, else the model.
func (st *runState) displayName(d cloud.Device) string {
	if o := st.ov.get(d.ID); o.Name != "" {
		return o.Name
	}
	if strings.TrimSpace(d.Name) != "" {
		return d.Name
	}
	if d.Model != "" {
		return d.Model
	}
	return d.Provider + " " + d.ID
}

// wantTopic is the topic the device should have if it were free.
func (st *runState) wantTopic(d cloud.Device) string {
	if o := st.ov.get(d.ID); o.Topic != "" {
		return o.Topic
	}
	t := slugify(d.Name)
	if t == "" || reservedTopics[t] {
		id := strings.ToLower(d.ID)
		if len(id) > 8 {
			id = id[len(id)-8:]
		}
		t = strings.Trim(d.Provider+"_"+slugify(id)+"_"+t, "_")
	}
	return t
}

// assignTopic returns a topic for dv that no other device uses: the wanted
// topic, or the wanted topic with _2, _3, … appended.
func (st *runState) assignTopic(dv *device) string {
	want := st.wantTopic(dv.dev)
	// Keep the topic this device had before (a restart must not hand
	// "lamp" to another device that happens to sort first).
	if kd, ok := st.knownDev[dv.key]; ok && topicFits(kd.Topic, want) {
		if other, taken := st.byTopic[kd.Topic]; !taken || other == dv {
			return kd.Topic
		}
	}
	t := want
	for n := 2; ; n++ {
		other, taken := st.byTopic[t]
		if !taken || other == dv {
			return t
		}
		t = want + "_" + itoa(n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// ---- device list ----------------------------------------------------------

// accountStatus returns p's status record, creating it as "starting".
func (st *runState) accountStatus(p cloud.Provider) *accountStatus {
	as := st.accounts[p]
	if as == nil {
		as = &accountStatus{status: "starting"}
		st.accounts[p] = as
	}
	return as
}

// errorStatus classifies an account-level error for bridge/info.
func errorStatus(err error) string {
	switch {
	case errors.Is(err, cloud.ErrAuth):
		return "auth_error"
	case errors.Is(err, cloud.ErrRateLimited):
		return "rate_limited"
	}
	return "error"
}

func (st *runState) accountFailed(p cloud.Provider, op string, err error) {
	if st.b.opts.Advise != nil {
		err = st.b.opts.Advise(p, err)
	}
	as := st.accountStatus(p)
	as.count++
	as.errAt = time.Now()
	msg := err.Error()
	if msg != as.lastErr {
		if as.lastErr == "" {
			as.since = time.Now()
		}
		as.lastErr = msg
		as.status = errorStatus(err)
		st.log.Error("cloud account error; devices will show unavailable until it recovers",
			zap.String(keyAccount, p.Account()), zap.String(keyProvider, p.Kind()), zap.String("op", op), zap.Error(err))
		st.event("account_error", map[string]string{"account": p.Account(), "provider": p.Kind(), "status": as.status, "error": msg})
		st.updateReadiness()
		st.publishInfo()
		return
	}
	st.log.Debug("cloud account still failing", zap.String(keyAccount, p.Account()), zap.String("op", op),
		zap.Int("consecutive_errors", as.count), zap.Error(err))
}

func (st *runState) accountOK(p cloud.Provider) {
	as := st.accountStatus(p)
	if as.status == "ok" {
		return
	}
	if as.lastErr != "" {
		st.log.Info("cloud account recovered", zap.String(keyAccount, p.Account()),
			zap.Int("failed_calls", as.count), zap.Duration("after", time.Since(as.since).Round(time.Second)))
		st.event("account_recovered", map[string]string{"account": p.Account(), "provider": p.Kind()})
	}
	*as = accountStatus{status: "ok"}
	st.updateReadiness()
	st.publishInfo()
}

func (st *runState) handleList(ev listEvent) {
	p := ev.prov
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return
		}
		st.accountFailed(p, "list devices", ev.err)
		if errors.Is(ev.err, cloud.ErrAuth) {
			for _, d := range st.devices {
				if d.prov == p {
					st.setAvailable(d, false)
				}
			}
		}
		return
	}
	st.accountOK(p)

	present := map[string]cloud.Device{}
	for _, d := range ev.devices {
		key := deviceKey(d.Provider, d.ID)
		if st.ov.get(d.ID).Disabled {
			if !st.skipped[key] {
				st.log.Info("device disabled by configuration", zap.String(keyDeviceID, d.ID), zap.String(keyDevice, d.Name))
				st.skipped[key] = true
			}
			continue
		}
		if other, ok := st.devices[key]; ok && other.prov != p {
			if !st.skipped[key] {
				st.log.Warn("device is on two accounts; bridging it from the first only",
					zap.String(keyDeviceID, d.ID), zap.String(keyAccount, p.Account()), zap.String("first_account", other.prov.Account()))
				st.skipped[key] = true
			}
			continue
		}
		present[key] = d
	}

	// Removed devices first, so their topics are free for newcomers.
	for key, dv := range st.devices {
		if dv.prov == p {
			if _, ok := present[key]; !ok {
				st.removeDevice(dv, "no longer on the account")
			}
		}
	}
	for key, kd := range st.knownDev {
		if kd.Account == p.Account() && kd.Provider == p.Kind() {
			if _, ok := present[key]; !ok {
				st.clearTopics(kd.Topic, kd.ConfigTopic)
				delete(st.knownDev, key)
				st.log.Info("cleared a device that is no longer bridged", zap.String(keyDeviceID, kd.ID), zap.String(keyTopic, kd.Topic))
			}
		}
	}

	keys := make([]string, 0, len(present))
	for k := range present {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := st.topicRank(present[a]), st.topicRank(present[b]); ra != rb {
			return ra - rb
		}
		return assignOrder(present[a], present[b])
	})
	for _, key := range keys {
		d := present[key]
		cloudName := d.Name
		d.Name = st.displayName(d)
		if dv, ok := st.devices[key]; ok {
			dv.cloudName = cloudName
			from := dv.dev.Name
			st.updateDevice(dv, d)
			if from != d.Name {
				st.deviceEvent("device_renamed", dv, from)
			}
		} else {
			st.addDevice(key, p, d, cloudName)
		}
	}
	st.saveKnown()
	st.publishDeviceList()
	st.publishInfo()
}

func (st *runState) addDevice(key string, p cloud.Provider, d cloud.Device, cloudName string) {
	dv := &device{key: key, dev: d, prov: p, available: d.Online, cloudName: cloudName}
	dv.topic = st.assignTopic(dv)
	st.devices[key] = dv
	st.byTopic[dv.topic] = dv
	if kd, ok := st.knownDev[key]; ok {
		// Renamed (or re-configured) while the daemon was stopped: the old
		// topics must not linger as ghosts.
		oldConfig := ""
		if kd.ConfigTopic != st.configTopic(d) {
			oldConfig = kd.ConfigTopic
		}
		oldTopic := ""
		if kd.Topic != dv.topic {
			oldTopic = kd.Topic
		}
		if oldTopic != "" || oldConfig != "" {
			st.clearTopics(oldTopic, oldConfig)
			st.log.Info("cleared the topics the device had before", zap.String(keyDeviceID, d.ID),
				zap.String("old_topic", kd.Topic), zap.String(keyTopic, dv.topic))
		}
	}
	dv.worker = startWorker(st.ctx, key, d.ID, p, st.b.events, st.log.With(zap.String(keyDeviceID, d.ID)), st.b.opts.RequestTimeout)
	st.log.Info("device added", zap.String(keyDeviceID, d.ID), zap.String(keyDevice, d.Name),
		zap.String(keyTopic, dv.topic), zap.String("model", d.Model), zap.Bool("cloud_online", d.Online))
	st.knownDev[key] = knownDevice{Account: p.Account(), Provider: d.Provider, ID: d.ID, Topic: dv.topic, ConfigTopic: st.configTopic(d)}
	st.publishDiscovery(dv, false)
	st.publish(discovery.AvailabilityTopic(st.base, dv.topic), availabilityPayload(dv.available))
	dv.pubAvail = availabilityPayload(dv.available)
	st.deviceEvent("device_added", dv, "")
	st.metricsDevices(p)
}

// cloudName is the vendor app's name of dv.
func (st *runState) cloudName(dv *device) string {
	if dv.cloudName != "" {
		return dv.cloudName
	}
	return dv.dev.Name
}

func (st *runState) updateDevice(dv *device, d cloud.Device) {
	old := dv.dev
	dv.dev = d
	if old.Name != d.Name {
		st.log.Info("device renamed", zap.String(keyDeviceID, d.ID), zap.String("from", old.Name), zap.String("to", d.Name))
	}
	if t := st.assignTopic(dv); t != dv.topic && !topicFits(dv.topic, st.wantTopic(d)) {
		st.log.Info("device topic changed", zap.String(keyDeviceID, d.ID), zap.String("from", dv.topic), zap.String("to", t))
		st.clearTopics(dv.topic, "")
		delete(st.byTopic, dv.topic)
		dv.topic = t
		st.byTopic[t] = dv
		dv.pubState, dv.pubAvail, dv.pubDiscovery = nil, nil, nil
		st.knownDev[dv.key] = knownDevice{Account: dv.prov.Account(), Provider: d.Provider, ID: d.ID, Topic: t, ConfigTopic: st.configTopic(d)}
	}
	// The list's online flag is stale by design (it is refreshed with the
	// list); once the device has been read, reads decide availability.
	if dv.state == nil && d.Online != old.Online {
		st.setAvailable(dv, d.Online)
	}
	st.publishDiscovery(dv, false)
	st.publishState(dv, false)
	if dv.pubAvail == nil {
		st.setAvailableForce(dv)
	}
}

func (st *runState) removeDevice(dv *device, why string) {
	if dv.worker != nil {
		dv.worker.stop()
	}
	delete(st.devices, dv.key)
	if st.byTopic[dv.topic] == dv {
		delete(st.byTopic, dv.topic)
	}
	delete(st.knownDev, dv.key)
	st.clearTopics(dv.topic, st.configTopic(dv.dev))
	st.log.Info("device removed", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyDevice, dv.dev.Name), zap.String("reason", why))
	st.deviceEvent("device_removed", dv, "")
	st.metricsDevices(dv.prov)
}

// clearTopics publishes empty retained payloads so that the broker forgets
// the device's state, availability and (when given) discovery.
func (st *runState) clearTopics(topic, configTopic string) {
	if configTopic != "" && st.b.opts.HomeAssistant {
		st.publish(configTopic, nil)
	}
	if topic != "" {
		st.publish(discovery.StateTopic(st.base, topic), nil)
		st.publish(discovery.AvailabilityTopic(st.base, topic), nil)
		if st.b.opts.Output != OutputJSON {
			for _, key := range stateKeys {
				st.publish(discovery.StateTopic(st.base, topic)+"/"+key, nil)
			}
		}
	}
}

func (st *runState) configTopic(d cloud.Device) string {
	if !st.b.opts.HomeAssistant {
		return ""
	}
	return discovery.ConfigTopic(st.b.disc, d)
}

func (st *runState) saveKnown() {
	if err := st.known.save(st.knownDev); err != nil {
		st.log.Warn("could not save the list of published devices", zap.Error(err))
	}
}

// ---- publishing -------------------------------------------------------------

func (st *runState) publishDiscovery(dv *device, force bool) {
	if !st.b.opts.HomeAssistant {
		return
	}
	payload, err := discovery.Payload(st.b.disc, discovery.Device{Device: dv.dev, Topic: dv.topic})
	if err != nil {
		st.log.Error("cannot build discovery payload", zap.String(keyDeviceID, dv.dev.ID), zap.Error(err))
		return
	}
	if !force && bytes.Equal(payload, dv.pubDiscovery) {
		return
	}
	dv.pubDiscovery = payload
	st.publish(discovery.ConfigTopic(st.b.disc, dv.dev), payload)
}

func (st *runState) publishState(dv *device, force bool) {
	payload := encodeState(dv.dev, dv.state)
	if payload == nil || (!force && bytes.Equal(payload, dv.pubState)) {
		return
	}
	dv.pubState = payload
	out := st.b.opts.Output
	if out != OutputAttribute {
		st.publish(discovery.StateTopic(st.base, dv.topic), payload)
	}
	if out != OutputJSON {
		for _, a := range stateAttributes(payload) {
			st.publish(discovery.StateTopic(st.base, dv.topic)+"/"+a.key, a.value)
		}
	}
}

func (st *runState) setAvailable(dv *device, online bool) {
	if dv.available == online && dv.pubAvail != nil {
		return
	}
	if dv.available != online {
		st.log.Info("device availability changed", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Bool("online", online))
	}
	dv.available = online
	st.setAvailableForce(dv)
	st.metricsDevices(dv.prov)
}

// metricsDevices updates the device gauges of p's account.
func (st *runState) metricsDevices(p cloud.Provider) {
	if st.b.opts.Metrics == nil {
		return
	}
	total, online := 0, 0
	for _, dv := range st.devices {
		if dv.prov == p {
			total++
			if dv.available {
				online++
			}
		}
	}
	st.b.opts.Metrics.SetDevices(p.Kind(), p.Account(), total)
	st.b.opts.Metrics.SetDevicesOnline(p.Kind(), p.Account(), online)
}

func (st *runState) setAvailableForce(dv *device) {
	dv.pubAvail = availabilityPayload(dv.available)
	st.publish(discovery.AvailabilityTopic(st.base, dv.topic), dv.pubAvail)
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
}

func (st *runState) sortedDevices() []*device {
	list := make([]*device, 0, len(st.devices))
	for _, dv := range st.devices {
		list = append(list, dv)
	}
	// Strips before their outlets: Home Assistant links an outlet to its
	// strip (via_device) only when the strip already exists.
	slices.SortFunc(list, func(a, b *device) int {
		if pa, pb := a.dev.ParentID != "", b.dev.ParentID != ""; pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		return strings.Compare(a.topic, b.topic)
	})
	return list
}

func (st *runState) publishDeviceList() {
	list := []bridgeDevice{}
	for _, dv := range st.sortedDevices() {
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
		list = append(list, bd)
	}
	payload, _ := json.Marshal(list)
	st.publish(st.base+"/bridge/devices", payload)
}

// replay republishes everything retained-worthy: bridge state, discovery,
// availability, then state, in that order.
func (st *runState) replay(why string) {
	st.log.Info("publishing discovery, availability and state", zap.String("reason", why), zap.Int("devices", len(st.devices)))
	st.publish(discovery.BridgeStateTopic(st.base), availabilityPayload(true))
	for topic := range st.cleared {
		st.publish(topic, nil)
	}
	devs := st.sortedDevices()
	for _, dv := range devs {
		st.publishDiscovery(dv, true)
	}
	for _, dv := range devs {
		st.setAvailableForce(dv)
	}
	// Devices published by an earlier run but not (yet) listed by this one
	// must not keep a retained "online" from the past: until their account
	// lists them again (or clears them), they are offline.
	for key, kd := range st.knownDev {
		if _, ok := st.devices[key]; !ok && kd.Topic != "" {
			st.publish(discovery.AvailabilityTopic(st.base, kd.Topic), availabilityPayload(false))
		}
	}
	for _, dv := range devs {
		st.publishState(dv, true)
	}
	st.publishDeviceList()
	st.publishBridgeDiscovery()
	st.publishInfo()
	for _, m := range st.heldEvents {
		st.out.put(m)
	}
	st.heldEvents = nil
}

// ---- states -------------------------------------------------------------------

func (st *runState) handleStates(ev statesEvent) {
	p := ev.prov
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return
		}
		st.accountFailed(p, "read states", ev.err)
		for _, id := range ev.ids {
			if dv := st.devices[deviceKey(p.Kind(), id)]; dv != nil && dv.prov == p {
				// The account's error supersedes what the device logged
				// before it; the account's recovery line covers both.
				dv.lastErr = ""
				st.readFailed(dv, ev.err, true)
			}
		}
		return
	}
	// A read that ends an account-wide failure may still see the tail of
	// it (calls that were under way when the cloud came back): those are
	// part of the account's outage, not news about the devices.
	wasFailing := st.accountStatus(p).lastErr != ""
	st.accountOK(p)
	for i := range ev.states {
		s := ev.states[i]
		dv := st.devices[deviceKey(p.Kind(), s.DeviceID)]
		if dv == nil || dv.prov != p {
			continue
		}
		if ev.started.Before(dv.confirmedAt) {
			continue // a command re-read is newer than this poll
		}
		if s.Err != nil {
			st.readFailed(dv, s.Err, wasFailing && errors.Is(s.Err, cloud.ErrUnavailable))
			continue
		}
		st.readOK(dv, &s, false)
	}
}

func (st *runState) readOK(dv *device, s *cloud.State, force bool) {
	if !dv.available && !dv.dev.Online {
		st.relistSoon(dv.prov)
	}
	if dv.lastErr != "" {
		st.log.Info("device readable again", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Int("failed_reads", dv.misses))
		dv.lastErr = ""
	}
	dv.misses = 0
	dv.state = s
	st.setAvailable(dv, true)
	st.publishState(dv, force)
}

// readFailed counts a failed read of dv and makes it unavailable at once
// for errors that say so, else after MissedPolls failures in a row. The
// device's error is logged once per distinct error, unless accountWide:
// then the account's error was logged once for all its devices, and the
// device does not log its recovery either.
func (st *runState) readFailed(dv *device, err error, accountWide bool) {
	dv.misses++
	if msg := err.Error(); !accountWide && msg != dv.lastErr {
		dv.lastErr = msg
		lvl := zap.WarnLevel
		if errors.Is(err, cloud.ErrDeviceOffline) {
			lvl = zap.InfoLevel
		}
		st.log.Log(lvl, "cannot read device", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Error(err))
	}
	if errors.Is(err, cloud.ErrDeviceOffline) || errors.Is(err, cloud.ErrAuth) || errors.Is(err, cloud.ErrUnknownDevice) ||
		errors.Is(err, cloud.ErrRefused) || dv.misses >= st.b.opts.MissedPolls {
		st.setAvailable(dv, false)
	}
}

// ---- commands -----------------------------------------------------------------

func (st *runState) handleMessage(m mqttMessage) {
	ct, ok := parseCommandTopic(st.base, m.topic)
	if !ok {
		return
	}
	if m.retained {
		st.log.Debug("ignoring retained message on a command topic", zap.String(keyTopic, m.topic))
		return
	}
	dv := st.byTopic[ct.device]
	if dv == nil {
		st.log.Warn("command for an unknown device", zap.String(keyTopic, m.topic), zap.String(keyPayload, quotePayload(m.payload)))
		return
	}
	if ct.verb == verbGet {
		if !dv.worker.enqueue(job{}) {
			st.log.Warn("device busy, dropping refresh", zap.String(keyTopic, m.topic))
		}
		return
	}
	req, err := parseSet(ct.prop, m.payload)
	if m.size > maxPayload {
		err = badPayload("payload of %d bytes is larger than %d", m.size, maxPayload)
	}
	if err != nil {
		st.log.Warn("ignoring bad command", zap.String(keyTopic, m.topic), zap.String(keyPayload, quotePayload(m.payload)), zap.Error(err))
		return
	}
	if req.state != 0 {
		st.relayCommand(dv, m, req.state)
	}
	if req.led != 0 {
		st.simpleCommand(dv, m, cloud.CapLED, cloud.ActionSetLED, req.led, func(s *cloud.State) *bool { return s.LED })
	}
	if req.restart {
		st.simpleCommand(dv, m, cloud.CapReboot, cloud.ActionReboot, 0, nil)
	}
}

func (st *runState) relayCommand(dv *device, m mqttMessage, v switchValue) {
	if !dv.dev.Has(cloud.CapRelay) {
		st.log.Warn("device has no relay", zap.String(keyTopic, m.topic), zap.String(keyPayload, quotePayload(m.payload)))
		return
	}
	var on bool
	switch v {
	case switchOn:
		on = true
	case switchOff:
		on = false
	case switchToggle:
		cur := dv.relayIntent
		if cur == nil && dv.state != nil {
			cur = dv.state.Relay
		}
		if cur == nil {
			st.log.Warn("cannot TOGGLE: the current state is not known yet; send ON or OFF",
				zap.String(keyTopic, m.topic))
			return
		}
		on = !*cur
	}
	cmd := cloud.Command{DeviceID: dv.dev.ID, Action: cloud.ActionSetRelay, On: on}
	if !dv.worker.enqueue(job{cmd: &cmd}) {
		st.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
		return
	}
	dv.relayIntent = &on
	dv.inflight++
	st.log.Debug("command queued", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
}

func (st *runState) simpleCommand(dv *device, m mqttMessage, capa cloud.Capability, action cloud.Action, v switchValue, cur func(*cloud.State) *bool) {
	if !dv.dev.Has(capa) {
		st.log.Warn("device does not support this command", zap.String(keyTopic, m.topic),
			zap.String(keyPayload, quotePayload(m.payload)), zap.String("capability", string(capa)))
		return
	}
	cmd := cloud.Command{DeviceID: dv.dev.ID, Action: action, On: v == switchOn}
	if v == switchToggle {
		if dv.state == nil || cur(dv.state) == nil {
			st.log.Warn("cannot TOGGLE: the current state is not known yet", zap.String(keyTopic, m.topic))
			return
		}
		cmd.On = !*cur(dv.state)
	}
	if !dv.worker.enqueue(job{cmd: &cmd}) {
		st.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
	}
}

func (st *runState) handleResult(ev resultEvent) {
	dv := st.devices[ev.key]
	if dv == nil {
		if ev.reply != nil {
			st.respond(ev.reply, nil, errors.New("the device was removed meanwhile"))
		}
		return
	}
	if ev.reply != nil {
		defer st.replyResult(dv, ev)
	}
	if ev.cmd != nil && ev.cmd.Action == cloud.ActionSetRelay {
		dv.inflight--
		if dv.inflight <= 0 {
			dv.inflight, dv.relayIntent = 0, nil
		}
	}
	if ev.cmd != nil && ev.applyErr != nil {
		st.log.Error("command failed", zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd), zap.Error(ev.applyErr))
		if errors.Is(ev.applyErr, cloud.ErrDeviceOffline) {
			st.setAvailable(dv, false)
		}
	} else if ev.cmd != nil {
		st.log.Info("command applied", zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd))
	}
	switch {
	case ev.state != nil:
		if ev.started.After(dv.confirmedAt) {
			dv.confirmedAt = ev.started
		}
		st.readOK(dv, ev.state, true)
	case ev.cmd != nil && ev.applyErr == nil && ev.cmd.Action == cloud.ActionReboot:
		st.log.Info("device is rebooting; its state follows at the next poll", zap.String(keyTopic, dv.topic))
	case ev.cmd != nil && ev.applyErr == nil:
		s := cloud.State{DeviceID: dv.dev.ID, Online: true, ReadAt: time.Now()}
		if dv.state != nil {
			s = *dv.state
		}
		switch ev.cmd.Action {
		case cloud.ActionSetRelay:
			s.Relay = cloud.Bool(ev.cmd.On)
		case cloud.ActionSetLED:
			s.LED = cloud.Bool(ev.cmd.On)
		}
		st.log.Warn("re-read after the command failed; publishing the commanded state optimistically",
			zap.String(keyTopic, dv.topic), zap.Stringer("command", *ev.cmd), zap.Error(ev.readErr))
		dv.state = &s
		st.publishState(dv, true)
	case ev.readErr != nil:
		st.readFailed(dv, ev.readErr, false)
	}
}

// assignOrder orders devices for topic assignment and first publication:
// strips before outlets (Home Assistant links an outlet to its strip only
// when the strip exists), then by provider and id.
func assignOrder(a, b cloud.Device) int {
	if pa, pb := a.ParentID != "", b.ParentID != ""; pa != pb {
		if pa {
			return 1
		}
		return -1
	}
	return strings.Compare(deviceKey(a.Provider, a.ID), deviceKey(b.Provider, b.ID))
}

// topicRank orders topic assignment so that claims are honoured: devices
// with a configured topic first, then devices that had a topic before this
// run, then new devices.
func (st *runState) topicRank(d cloud.Device) int {
	switch {
	case st.ov.get(d.ID).Topic != "":
		return 0
	case st.knownDev[deviceKey(d.Provider, d.ID)].Topic != "":
		return 1
	}
	return 2
}

// relistSoon asks an account's poller to list devices now (at most once a
// minute): a device that was offline when listed may have children or
// capabilities the list could not learn.
func (st *runState) relistSoon(p cloud.Provider) {
	if time.Since(st.relisted[p]) < time.Minute {
		return
	}
	st.relisted[p] = time.Now()
	st.relistNow(p)
}

// relistNow asks p's poller to list devices now.
func (st *runState) relistNow(p cloud.Provider) {
	if pl := st.pollers[p]; pl != nil {
		select {
		case pl.relist <- struct{}{}:
		default: // one is already pending
		}
	}
}

// replyResult answers the bridge request a worker job carried.
func (st *runState) replyResult(dv *device, ev resultEvent) {
	switch {
	case ev.rename != "" && ev.renameErr != nil:
		st.respond(ev.reply, nil, ev.renameErr)
	case ev.rename != "":
		dv.cloudName = ev.rename
		st.respond(ev.reply, st.renamed(dv, ev.rename), nil)
		st.relistNow(dv.prov) // confirm from the cloud's own list
	case ev.readErr != nil:
		st.respond(ev.reply, nil, fmt.Errorf("re-reading %q: %w", dv.topic, ev.readErr))
	default:
		var state any = json.RawMessage(dv.pubState)
		if dv.pubState == nil {
			state = struct{}{}
		}
		st.respond(ev.reply, map[string]any{"id": dv.dev.ID, "topic": dv.topic, "state": state}, nil)
	}
}

// topicFits reports whether a device's current topic is still right for the
// topic it wants: the same, or the same with a _N suffix from a clash.
func topicFits(cur, want string) bool {
	if cur == want {
		return true
	}
	n, ok := strings.CutPrefix(cur, want+"_")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}
