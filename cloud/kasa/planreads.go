package kasa

import "github.com/kasa2mqtt/kasa2mqtt/cloud"

var _ cloud.ReadPlanner = (*Provider)(nil)

// PlanReads groups ids by physical device, in the order of their first
// mention: a plug alone, a strip with those of its outlets that are asked
// for. A group costs one passthrough, plus one per outlet asked for when
// the strip meters its outlets. Unknown ids get groups of their own
// (ReadStates answers them without a call). It does no network I/O.
func (p *Provider) PlanReads(ids []string) []cloud.ReadGroup {
	p.mu.Lock()
	defer p.mu.Unlock()
	byParent := map[string]int{}
	var out []cloud.ReadGroup
	for _, id := range ids {
		parent, outlet := id, false
		if _, ok := p.devices[id]; !ok {
			if o, ok := p.outlets[id]; ok && p.devices[o.parent] != nil {
				parent, outlet = o.parent, true
			} else {
				out = append(out, cloud.ReadGroup{IDs: []string{id}, Calls: 1})
				continue
			}
		}
		i, ok := byParent[parent]
		if !ok {
			i = len(out)
			byParent[parent] = i
			out = append(out, cloud.ReadGroup{Calls: 1})
		}
		out[i].IDs = append(out[i].IDs, id)
		if info := p.devices[parent].info; outlet && info.isStrip() && info.hasEnergy() {
			out[i].Calls++
		}
	}
	return out
}
