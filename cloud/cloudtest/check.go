package cloudtest

import (
	"context"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// callTimeout bounds every call a check makes without a deadline of its
// own, so that a provider that hangs fails the check instead of the run.
const callTimeout = 20 * time.Second

// check is one contract check: a Cloud, the providers built on it, and a
// Recorder of everything they logged, returned and reported, searched for
// the account's secrets when the check ends.
type check struct {
	TB
	t     *testing.T // for the Cloud
	cloud Cloud
	rec   *Recorder
	obs   *events
}

// start begins a check that reports to r, on a Cloud the fixture starts
// for t.
func start(t *testing.T, r TB, fixture Fixture) *check {
	c := &check{TB: r, t: t, cloud: fixture(t)}
	c.rec = NewRecorder(r, c.cloud.Secrets)
	c.obs = c.rec.obs
	return c
}

// provider builds a provider with the check's logger and observer.
func (c *check) provider(opts Options) cloud.Provider {
	c.Helper()
	opts.Logger, opts.Observer = c.rec.Logger(), c.rec.Observer()
	p := c.cloud.NewProvider(c.t, opts)
	if p.Kind() == "" || p.Account() == "" {
		c.Fatalf("provider Kind %q, Account %q: want both set", p.Kind(), p.Account())
	}
	return p
}

// ctx is a context for one call.
func (c *check) ctx() context.Context { return Context(c) }

// track keeps errors for the secrets check. Safe for concurrent use.
func (c *check) track(errs ...error) { c.rec.Track(errs...) }

// list lists the devices, failing the check on an error or a repeated
// ID.
func (c *check) list(p cloud.Provider) map[string]cloud.Device {
	c.Helper()
	out := map[string]cloud.Device{}
	for _, d := range MustList(c, c.rec, p) {
		if _, dup := out[d.ID]; dup {
			c.Errorf("ListDevices lists %q twice", d.ID)
		}
		out[d.ID] = d
	}
	return out
}

// read reads states without an account-wide error, one State per id.
func (c *check) read(p cloud.Provider, ids ...string) map[string]cloud.State {
	c.Helper()
	return ByID(MustRead(c, c.rec, p, ids...))
}

// oneEach checks that states hold one State per id, in any order, and
// returns them by id.
func (c *check) oneEach(ids []string, states []cloud.State) map[string]cloud.State {
	c.Helper()
	for _, st := range states {
		c.track(st.Err)
	}
	if got, ok := onePerID(ids, states); !ok {
		c.Fatalf("ReadStates(%v) returned states for %v: want one per id", ids, got)
	}
	return ByID(states)
}

// readOK reads states and fails the check on any per-device error.
func (c *check) readOK(p cloud.Provider, ids ...string) map[string]cloud.State {
	c.Helper()
	states := c.read(p, ids...)
	for _, id := range ids {
		st := states[id]
		if st.Err != nil || !st.Online || st.ReadAt.IsZero() {
			c.Fatalf("state of %s: Err %v, Online %v, ReadAt %v: want a good reading", id, st.Err, st.Online, st.ReadAt)
		}
	}
	return states
}

// apply sends a command, failing the check on an error.
func (c *check) apply(p cloud.Provider, cmd cloud.Command) {
	c.Helper()
	MustApply(c, c.rec, p, cmd)
}
