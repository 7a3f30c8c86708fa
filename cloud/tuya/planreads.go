package tuya

import "github.com/kasa2mqtt/kasa2mqtt/cloud"

var _ cloud.ReadPlanner = (*Provider)(nil)

// PlanReads groups ids the way ReadStates batches them: up to
// MaxStatusIDs physical devices per group (a strip with the outlets of it
// asked for), devices believed online before those known offline; each
// group costs one batch status call. Unknown ids get groups of their own.
// It does no network I/O.
func (p *Provider) PlanReads(ids []string) []cloud.ReadGroup {
	states := make([]cloud.State, len(ids))
	groups := p.plan(ids, states, p.now())
	var out []cloud.ReadGroup
	for _, batch := range batches(groups) {
		g := cloud.ReadGroup{Calls: 1}
		for _, rg := range batch {
			for _, i := range rg.self {
				g.IDs = append(g.IDs, ids[i])
			}
			for _, o := range rg.outlets {
				g.IDs = append(g.IDs, ids[o.idx])
			}
		}
		out = append(out, g)
	}
	for i, st := range states {
		if st.Err != nil {
			out = append(out, cloud.ReadGroup{IDs: []string{ids[i]}, Calls: 1})
		}
	}
	return out
}
