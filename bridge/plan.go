package bridge

import (
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// PlanTopics returns the topic segment each device would get if the bridge
// started now with these devices and overrides (id -> topic). Disabled
// devices get no topic. It is what `kasa2mqtt devices` shows.
//
// stateDir, when set, is read for the topics an earlier run gave each device
// (they are kept, as the daemon keeps them) and for the device options set
// over MQTT.
func PlanTopics(devs []cloud.Device, devOpts map[string]DeviceOverride, stateDir string) map[string]string {
	known, _ := newKnownFile(stateDir).load() // missing or unreadable: plan from scratch
	ov, _ := newOverrides(devOpts, stateDir)  // options set over MQTT count too
	alloc := newTopicAllocator(ov.get, func(key string) string { return known[key].Topic })
	sorted := slices.Clone(devs)
	alloc.sort(sorted)
	out := map[string]string{}
	for _, d := range sorted {
		if ov.get(d.ID).Disabled {
			continue
		}
		d.Name = alloc.name(d)
		key := deviceKey(d.Provider, d.ID)
		topic := alloc.assign(key, d)
		alloc.claim(topic, key)
		out[d.ID] = topic
	}
	return out
}
