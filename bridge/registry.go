package bridge

import (
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// device is the registry's record of one bridged device.
type device struct {
	key  string       // provider/id
	dev  cloud.Device // Name is the display name (override or cloud name)
	prov cloud.Provider
	// cloudName is the name the vendor app shows.
	cloudName string

	topic     string
	state     *cloud.State // last good read
	available bool
	// availPublished: the availability was published on the current topic.
	availPublished bool
	misses         int
	lastErr        string

	// confirmedAt is when the newest command re-read started; poll results
	// that started earlier are older than what is published and are ignored.
	confirmedAt time.Time
	// relayIntent is the relay target of commands still in the worker's
	// queue, so TOGGLE twice in a row does what the user meant.
	relayIntent *bool
	inflight    int
	// light coalesces the device's light commands.
	light lightQueue
	// worker is the serial number of the device's worker; queued counts
	// the jobs handed to it and not answered yet.
	worker uint64
	queued int
	// pushedInJob: a pushed state was published while a job of the
	// device was queued or under way; its re-read repeats it only if it
	// differs (one state message per command, not one per source).
	pushedInJob bool
	// announced are the components of the device's last discovery
	// payload; removed those Home Assistant may still hold without them,
	// sent as stubs until the broker accepted them (removedSeq names the
	// set; registry_removed.go).
	announced  []string
	removed    []string
	removedSeq uint64
	// noted: announced and removed follow dev (noteComponents ran since
	// dev last changed), so a replay need not work them out again.
	noted bool
}

// registry is the run loop's state: the devices by key and by topic, the
// devices published by the previous run (bridge-devices.json), the skipped
// ids, every device's state, availability and command bookkeeping, and the
// accounts' status. Its handlers (handleList, handleStates, handleResult,
// handleMessage, handleRequest, replay, info) change that state and return
// the effects the run loop must carry out; they never block, publish, start
// goroutines or touch files, so the registry is deterministic and is tested
// alone. It reads the time from its clock, the per-device options from
// overrides (safe for concurrent use) and calls Options.SetLogLevel for
// log_level requests. Only the run loop uses it.
type registry struct {
	opts      Options // defaults filled in
	disc      discovery.Config
	providers []cloud.Provider
	ov        *overrides
	log       *zap.Logger
	clock     clock
	started   time.Time
	// connected reports whether the broker connection is up, for
	// health_check.
	connected func() bool
	// polls reports each account's derived schedule (nil: none known).
	polls func(p cloud.Provider) pollStatus

	devices  map[string]*device
	topics   *topicAllocator
	known    map[string]knownDevice // persisted in bridge-devices.json
	skipped  map[string]bool        // disabled or duplicate ids, logged once
	accounts *accountTracker
	// children are the keys of each parent's registered outlets, by the
	// parent's key (so that a strip's change does not cost a pass over
	// every device).
	children map[string]map[string]bool
	// tally counts each account's devices and the available ones, for the
	// gauges (counted as they change: with thousands of devices, counting
	// at every change would cost a pass over all of them).
	tally map[cloud.Provider]*[2]int
	// relisted is when each account was last asked to re-list early.
	relisted map[cloud.Provider]time.Time
	// push is the last reported health of each pushing account's push
	// connection.
	push    map[cloud.Provider]cloud.PushStatus
	workers uint64 // workers started
	// removals counts the sets of stubs made (device.removedSeq).
	removals uint64
	// pending are the devices no longer bridged whose state and
	// availability topics wait for their clear (registry_clear.go).
	pending map[string]pendingClear
	// retainedSeen are the command and request topics on which the broker
	// delivered a retained message (registry_command.go).
	retainedSeen map[string]bool

	effs []effect // of the handler under way
	// quietAdds logs each device added at debug level (a list adding more
	// than loudAdds; one info line sums them up).
	quietAdds bool
}

func newRegistry(opts Options, disc discovery.Config, providers []cloud.Provider, ov *overrides, started time.Time, connected func() bool) *registry {
	r := &registry{
		opts: opts, disc: disc, providers: providers, ov: ov, log: opts.Logger, clock: opts.clock,
		started: started, connected: connected,
		devices:  map[string]*device{},
		known:    map[string]knownDevice{},
		skipped:  map[string]bool{},
		accounts: newAccountTracker(opts.Logger, opts.clock),
		relisted: map[cloud.Provider]time.Time{},
		tally:    map[cloud.Provider]*[2]int{},
		children: map[string]map[string]bool{},
		pending:  map[string]pendingClear{},

		retainedSeen: map[string]bool{},
		push:         map[cloud.Provider]cloud.PushStatus{},
	}
	r.topics = newTopicAllocator(ov.get, func(key string) string { return r.known[key].Topic })
	return r
}

func (r *registry) emit(e ...effect) { r.effs = append(r.effs, e...) }

// done returns the effects of the handler under way.
func (r *registry) done() []effect {
	e := r.effs
	r.effs = nil
	return e
}

// start takes the devices published by the previous run. Devices of
// accounts that are no longer configured will never be listed again: they
// are cleared (see forget; the clears are replayed on connect) and
// forgotten.
func (r *registry) start(known map[string]knownDevice) []effect {
	if known != nil {
		r.known = known
	}
	configured := map[string]bool{}
	for _, p := range r.providers {
		configured[p.Kind()+"/"+p.Account()] = true
	}
	for _, key := range slices.Sorted(maps.Keys(r.known)) {
		kd := r.known[key]
		if !configured[kd.Provider+"/"+kd.Account] {
			r.forget(key, kd.Topic, kd.ConfigTopic)
			r.log.Info("clearing a device of an account that is no longer configured",
				zap.String(keyAccount, kd.Account), zap.String(keyDeviceID, kd.ID), zap.String(keyTopic, kd.Topic))
		}
	}
	r.updateReadiness()
	return r.done()
}

// byTopic returns the device holding topic, or nil.
func (r *registry) byTopic(topic string) *device {
	if key, ok := r.topics.owner(topic); ok {
		return r.devices[key]
	}
	return nil
}

// sortedDevices lists the devices strips first (Home Assistant links an
// outlet to its strip (via_device) only when the strip already exists),
// then by topic.
func (r *registry) sortedDevices() []*device {
	list := slices.Collect(maps.Values(r.devices))
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

// providerDevices lists p's devices in key order.
func (r *registry) providerDevices(p cloud.Provider) []*device {
	var out []*device
	for _, key := range slices.Sorted(maps.Keys(r.devices)) {
		if dv := r.devices[key]; dv.prov == p {
			out = append(out, dv)
		}
	}
	return out
}

func (r *registry) configTopic(d cloud.Device) string {
	if !r.opts.HomeAssistant {
		return ""
	}
	return discovery.ConfigTopic(r.disc, d)
}

func (r *registry) remember(dv *device) {
	r.known[dv.key] = knownDevice{Account: dv.prov.Account(), Provider: dv.dev.Provider, ID: dv.dev.ID,
		Topic: dv.topic, ConfigTopic: r.configTopic(dv.dev), Components: r.heldComponents(dv)}
}

func (r *registry) addDevice(key string, p cloud.Provider, d cloud.Device, cloudName string) {
	dv := &device{key: key, dev: d, prov: p, available: d.Online, cloudName: cloudName, announced: r.announcedBefore(key, d)}
	dv.topic = r.topics.assign(key, d)
	r.devices[key] = dv
	r.linkChild(dv)
	r.takeTopic(dv.topic, key)
	// Renamed (or re-configured) while the daemon was stopped: the old
	// topics must not linger as ghosts. An old discovery topic goes first
	// (the same unique_ids must not be announced twice); the old state
	// topics after the new discovery has moved the entities away.
	oldTopic, oldConfig := "", ""
	if kd, ok := r.known[key]; ok {
		if kd.ConfigTopic != r.configTopic(d) {
			oldConfig = kd.ConfigTopic
		}
		if kd.Topic != dv.topic {
			oldTopic = kd.Topic
		}
		if oldTopic != "" || oldConfig != "" {
			r.log.Info("clearing the topics the device had before", zap.String(keyDeviceID, d.ID),
				zap.String("old_topic", kd.Topic), zap.String(keyTopic, dv.topic))
		}
	}
	if oldConfig != "" {
		r.emit(clearEffect{"", oldConfig})
	}
	r.workers++
	dv.worker = r.workers
	r.emit(startWorkerEffect{key: key, id: d.ID, serial: dv.worker, prov: p})
	lvl := zap.InfoLevel
	if r.quietAdds {
		lvl = zap.DebugLevel
	}
	r.log.Log(lvl, "device added", zap.String(keyDeviceID, d.ID), zap.String(keyDevice, d.Name),
		zap.String(keyTopic, dv.topic), zap.String("model", d.Model), zap.Bool("cloud_online", d.Online))
	r.remember(dv)
	r.publishDiscovery(dv, false)
	r.refreshChildren(dv)
	r.publishAvailability(dv)
	if oldTopic != "" {
		r.clearUnowned(oldTopic, "")
	}
	r.deviceEvent("device_added", dv, "")
	r.count(dv, 1)
	r.metricsDevices(p)
}

// cloudName is the vendor app's name of dv.
func (r *registry) cloudName(dv *device) string {
	if dv.cloudName != "" {
		return dv.cloudName
	}
	return dv.dev.Name
}

// updateDevice applies a new listing (or name) of dv: a rename moves it to
// the topic that follows, and discovery, availability and state are
// republished (if their bytes changed) before the old topics are cleared.
func (r *registry) updateDevice(dv *device, d cloud.Device) {
	old := dv.dev
	if old.ParentID != d.ParentID {
		r.unlinkChild(dv)
		dv.dev = d
		r.linkChild(dv)
	}
	dv.dev, dv.noted = d, false
	if old.Name != d.Name {
		r.log.Info("device renamed", zap.String(keyDeviceID, d.ID), zap.String("from", old.Name), zap.String("to", d.Name))
	}
	oldTopic := ""
	if t := r.topics.assign(dv.key, d); t != dv.topic && !topicFits(dv.topic, r.topics.wanted(d)) {
		r.log.Info("device topic changed", zap.String(keyDeviceID, d.ID), zap.String("from", dv.topic), zap.String("to", t))
		oldTopic = dv.topic
		r.topics.release(dv.topic, dv.key)
		dv.topic = t
		r.takeTopic(t, dv.key)
		dv.availPublished = false
		r.remember(dv)
	}
	// The list's online flag is stale by design (it is refreshed with the
	// list); once the device has been read, reads decide availability.
	if dv.state == nil && d.Online != old.Online {
		r.setAvailable(dv, d.Online)
	}
	r.publishDiscovery(dv, false)
	if !dv.availPublished {
		r.publishAvailability(dv)
	}
	r.publishState(dv, false)
	if oldTopic != "" {
		r.clearUnowned(oldTopic, "")
	}
}

// removeDevice stops bridging dv: its children (if any) stop naming it as
// their via_device first, then it is cleared (see forget).
func (r *registry) removeDevice(dv *device, why string) {
	r.emit(stopWorkerEffect{dv.key})
	delete(r.devices, dv.key)
	r.unlinkChild(dv)
	r.topics.release(dv.topic, dv.key)
	r.refreshChildren(dv)
	r.forget(dv.key, dv.topic, r.configTopic(dv.dev))
	r.log.Info("device removed", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyDevice, dv.dev.Name), zap.String("reason", why))
	r.deviceEvent("device_removed", dv, "")
	r.count(dv, -1)
	r.metricsDevices(dv.prov)
}

func (r *registry) saveKnown() { r.emit(saveKnownEffect{maps.Clone(r.known)}) }

// enqueue hands j to dv's worker unless its queue is full.
func (r *registry) enqueue(dv *device, j job) bool {
	if dv.queued >= workerQueue {
		return false
	}
	dv.queued++
	r.emit(enqueueEffect{key: dv.key, job: j})
	return true
}

// relistSoon asks an account's poller to list devices now (at most once a
// minute): a device that was offline when listed may have children or
// capabilities the list could not learn.
func (r *registry) relistSoon(p cloud.Provider) {
	now := r.clock.Now()
	if now.Sub(r.relisted[p]) < time.Minute {
		return
	}
	r.relisted[p] = now
	r.emit(relistEffect{p})
}

// ---- publishing ----------------------------------------------------------

// announced reports whether the device with key has a discovery message:
// every registered device has one (the discovery package gives a device
// without entities a connectivity sensor); disabled devices, devices
// filtered out and devices not listed have none.
func (r *registry) announced(key string) bool { return r.devices[key] != nil }

func (r *registry) discoveryMessage(dv *device) (message, bool) {
	r.noteComponents(dv)
	d := discovery.Device{Device: dv.dev, Topic: dv.topic, Removed: dv.removed}
	if p := dv.dev.ParentID; p != "" && !r.announced(deviceKey(dv.dev.Provider, p)) {
		// via_device must name a device Home Assistant knows.
		d.ParentNotAnnounced = true
	}
	payload, err := discovery.Payload(r.disc, d)
	if err != nil {
		r.log.Error("cannot build discovery payload", zap.String(keyDeviceID, dv.dev.ID), zap.Error(err))
		return message{}, false
	}
	return message{topic: discovery.ConfigTopic(r.disc, dv.dev), payload: payload, retained: true, removal: r.removalOf(dv)}, true
}

func (r *registry) publishDiscovery(dv *device, force bool) {
	if !r.opts.HomeAssistant {
		return
	}
	if m, ok := r.discoveryMessage(dv); ok {
		r.emit(discoveryEffect{m, force})
	}
}

// refreshChildren republishes the discovery of parent's children (strip
// outlets), whose via_device follows whether parent is announced; only the
// ones whose bytes changed go out.
func (r *registry) refreshChildren(parent *device) {
	if !r.opts.HomeAssistant {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(r.children[parent.key])) {
		if dv := r.devices[key]; dv != nil {
			r.publishDiscovery(dv, false)
		}
	}
}

// linkChild and unlinkChild keep dv in its parent's children.
func (r *registry) linkChild(dv *device) {
	if dv.dev.ParentID == "" {
		return
	}
	pk := deviceKey(dv.dev.Provider, dv.dev.ParentID)
	if r.children[pk] == nil {
		r.children[pk] = map[string]bool{}
	}
	r.children[pk][dv.key] = true
}

func (r *registry) unlinkChild(dv *device) {
	if dv.dev.ParentID == "" {
		return
	}
	pk := deviceKey(dv.dev.Provider, dv.dev.ParentID)
	delete(r.children[pk], dv.key)
	if len(r.children[pk]) == 0 {
		delete(r.children, pk)
	}
}

func (r *registry) publishState(dv *device, force bool) {
	payload := encodeState(dv.dev, dv.state)
	if payload == nil {
		return
	}
	r.emit(stateEffect{dv.topic, payload, force})
}

// setAvailable publishes dv's availability when it changes (or was not
// published on its topic yet).
func (r *registry) setAvailable(dv *device, online bool) {
	if dv.available == online && dv.availPublished {
		return
	}
	if dv.available != online {
		r.log.Info("device availability changed", zap.String(keyDeviceID, dv.dev.ID), zap.String(keyTopic, dv.topic), zap.Bool("online", online))
		r.count(dv, -1)
		dv.available = online
		r.count(dv, 1)
	}
	r.publishAvailability(dv)
	r.metricsDevices(dv.prov)
}

func (r *registry) publishAvailability(dv *device) {
	dv.availPublished = true
	r.emit(retainEffect{discovery.AvailabilityTopic(r.opts.BaseTopic, dv.topic), availabilityPayload(dv.available), true})
}

// count adds sign times dv to its account's tally.
func (r *registry) count(dv *device, sign int) {
	t := r.tally[dv.prov]
	if t == nil {
		t = new([2]int)
		r.tally[dv.prov] = t
	}
	t[0] += sign
	if dv.available {
		t[1] += sign
	}
}

// metricsDevices updates the device gauges of p's account.
func (r *registry) metricsDevices(p cloud.Provider) {
	e := devicesMetricEffect{provider: p.Kind(), account: p.Account()}
	if t := r.tally[p]; t != nil {
		e.total, e.online = t[0], t[1]
	}
	r.emit(e)
}

// updateReadiness records, for Bridge.Ready, which accounts have not
// reached a steady state (listed once, or failed for a reported reason).
func (r *registry) updateReadiness() {
	r.emit(readinessEffect{r.accounts.waiting(r.providers), r.accounts.attention(r.providers)})
}
