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
	st := &runState{ov: ov, byTopic: map[string]*device{}, knownDev: known}
	sorted := slices.Clone(devs)
	slices.SortFunc(sorted, func(a, b cloud.Device) int {
		if ra, rb := st.topicRank(a), st.topicRank(b); ra != rb {
			return ra - rb
		}
		return assignOrder(a, b)
	})
	out := map[string]string{}
	for _, d := range sorted {
		if ov.get(d.ID).Disabled {
			continue
		}
		d.Name = st.displayName(d)
		dv := &device{key: deviceKey(d.Provider, d.ID), dev: d}
		dv.topic = st.assignTopic(dv)
		st.byTopic[dv.topic] = dv
		out[d.ID] = dv.topic
	}
	return out
}
