package cloud

import "context"

// ReadGroup is a set of device ids that one ReadStates call reads best
// together, and what that read costs.
type ReadGroup struct {
	// IDs are device ids from ListDevices.
	IDs []string
	// Calls is how many cloud calls reading IDs costs, as far as the
	// provider can tell (at least 1).
	Calls int
}

// ReadPlanner is implemented by providers that know how their reads
// group: the bridge reads each group with one ReadStates call, at its own
// time in the poll interval, and budgets its calls.
//
// PlanReads splits ids into groups, every id in exactly one group, in a
// deterministic order for the same ids and the same devices: a physical
// device with the outlets of it that are asked for (Kasa: one passthrough,
// plus one per metering outlet), or a batch of physical devices the cloud
// reads in one call (Tuya: 20). Ids the provider does not know go in
// groups of their own. It does no network I/O and is safe for concurrent
// use. Without it, the bridge reads each id on its own and counts one call
// for it.
type ReadPlanner interface {
	PlanReads(ids []string) []ReadGroup
}

// PlanReads groups ids with p's ReadPlanner, or one id per group costing
// one call when p has none.
func PlanReads(p Provider, ids []string) []ReadGroup {
	if rp, ok := p.(ReadPlanner); ok {
		return rp.PlanReads(ids)
	}
	out := make([]ReadGroup, len(ids))
	for i, id := range ids {
		out[i] = ReadGroup{IDs: []string{id}, Calls: 1}
	}
	return out
}

type interactiveKey struct{}

// Interactive marks ctx as the context of calls a person is waiting for
// (a command and the read that confirms it): providers send them at once,
// not queued behind polls in the per-host bound of concurrent requests.
func Interactive(ctx context.Context) context.Context {
	return context.WithValue(ctx, interactiveKey{}, true)
}

// IsInteractive reports whether ctx was marked with Interactive.
func IsInteractive(ctx context.Context) bool {
	v, _ := ctx.Value(interactiveKey{}).(bool)
	return v
}
