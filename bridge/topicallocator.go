package bridge

import (
	"slices"
	"strconv"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// topicAllocator gives every device a topic segment no other device uses.
// It is pure: it reads the per-device overrides and the topics of the
// previous run through functions and keeps only which device (by key,
// "provider/id") holds which topic. The registry and PlanTopics use it; it
// is not safe for concurrent use.
//
// The rules:
//   - the name is the override name, else the cloud name, else the model,
//     else "<provider> <id>";
//   - the wanted topic is the override topic, else the slugified name; a name
//     that slugifies to nothing or to a reserved topic becomes
//     "<provider>_<last 8 of the id>_<slug>";
//   - a device keeps the topic it had before (bridge-devices.json) while that
//     topic still fits what it wants (the same, or with a _N suffix);
//   - otherwise it gets the wanted topic, or the first free of _2, _3, …;
//   - devices are assigned in rank order: a configured topic first, then a
//     topic known from the previous run, then new devices; within a rank,
//     devices without a parent (strips, plugs) before outlets, then by key.
type topicAllocator struct {
	override func(id string) DeviceOverride
	previous func(key string) string // "" when unknown
	owners   map[string]string       // topic → device key
}

func newTopicAllocator(override func(id string) DeviceOverride, previous func(key string) string) *topicAllocator {
	if override == nil {
		override = func(string) DeviceOverride { return DeviceOverride{} }
	}
	if previous == nil {
		previous = func(string) string { return "" }
	}
	return &topicAllocator{override: override, previous: previous, owners: map[string]string{}}
}

func deviceKey(provider, id string) string { return provider + "/" + id }

// name is the display name of d: the override name, else the cloud name,
// else the model, else provider and id.
func (a *topicAllocator) name(d cloud.Device) string {
	if o := a.override(d.ID); o.Name != "" {
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

// wanted is the topic d (whose Name is already its display name) should
// have if it were free.
func (a *topicAllocator) wanted(d cloud.Device) string {
	if o := a.override(d.ID); o.Topic != "" {
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

// free reports whether topic is unused or used by key itself.
func (a *topicAllocator) free(topic, key string) bool {
	owner, taken := a.owners[topic]
	return !taken || owner == key
}

// assign returns the topic for the device key with display-named d: its
// previous topic if that still fits and is free, else the wanted topic or
// the first free one with _2, _3, … appended. It does not claim the topic.
func (a *topicAllocator) assign(key string, d cloud.Device) string {
	want := a.wanted(d)
	// Keep the topic this device had before (a restart must not hand
	// "lamp" to another device that happens to sort first).
	if prev := a.previous(key); prev != "" && topicFits(prev, want) && a.free(prev, key) {
		return prev
	}
	t := want
	for n := 2; !a.free(t, key); n++ {
		t = want + "_" + strconv.Itoa(n)
	}
	return t
}

// claim records that key holds topic.
func (a *topicAllocator) claim(topic, key string) { a.owners[topic] = key }

// release frees topic if key holds it.
func (a *topicAllocator) release(topic, key string) {
	if a.owners[topic] == key {
		delete(a.owners, topic)
	}
}

// owner returns the key of the device holding topic.
func (a *topicAllocator) owner(topic string) (string, bool) {
	k, ok := a.owners[topic]
	return k, ok
}

// rank orders topic assignment so that claims are honoured: devices with a
// configured topic first, then devices that had a topic before this run,
// then new devices.
func (a *topicAllocator) rank(d cloud.Device) int {
	switch {
	case a.override(d.ID).Topic != "":
		return 0
	case a.previous(deviceKey(d.Provider, d.ID)) != "":
		return 1
	}
	return 2
}

// sort puts devs in assignment order: rank, then assignOrder.
func (a *topicAllocator) sort(devs []cloud.Device) {
	slices.SortFunc(devs, func(x, y cloud.Device) int {
		if rx, ry := a.rank(x), a.rank(y); rx != ry {
			return rx - ry
		}
		return assignOrder(x, y)
	})
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
