package bridge

import (
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// PlanTopics returns the topic segment each device would get if the bridge
// started now with these devices and overrides (id -> topic). Disabled
// devices get no topic. It is what `kasa2mqtt devices` shows.
func PlanTopics(devs []cloud.Device, overrides map[string]DeviceOverride) map[string]string {
	st := &runState{b: &Bridge{opts: Options{Devices: overrides}}, byTopic: map[string]*device{}}
	sorted := slices.Clone(devs)
	slices.SortFunc(sorted, assignOrder)
	out := map[string]string{}
	for _, d := range sorted {
		if overrides[d.ID].Disabled {
			continue
		}
		d.Name = st.displayName(d)
		dv := &device{dev: d}
		dv.topic = st.assignTopic(dv)
		st.byTopic[dv.topic] = dv
		out[d.ID] = dv.topic
	}
	return out
}
