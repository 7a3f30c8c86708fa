package cloudtest

import (
	"context"
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// TB is the part of testing.TB the checks and the helpers below report
// through; *testing.T has it.
type TB interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	Context() context.Context
	TempDir() string
}

// Context returns a context for one provider call of a test: t's, ending
// after 20 s at the latest, so that a provider that hangs fails the test
// instead of the whole run.
func Context(t TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// MustList lists p's devices; an error is tracked in r and fails t.
func MustList(t TB, r *Recorder, p cloud.Provider) []cloud.Device {
	t.Helper()
	devs, err := p.ListDevices(Context(t))
	r.Track(err)
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	return devs
}

// MustRead reads the states of ids and returns them as p did; an
// account-wide error fails t, and so does anything but one State per id
// (in any order). Every error is tracked in r.
func MustRead(t TB, r *Recorder, p cloud.Provider, ids ...string) []cloud.State {
	t.Helper()
	states, err := p.ReadStates(Context(t), ids)
	r.Track(err)
	if err != nil {
		t.Fatalf("ReadStates(%v): %v", ids, err)
	}
	for _, st := range states {
		r.Track(st.Err)
	}
	if got, ok := onePerID(ids, states); !ok {
		t.Fatalf("ReadStates(%v) returned states for %v: want one per id", ids, got)
	}
	return states
}

// onePerID reports whether states hold one State per id, in any order;
// got lists their ids, sorted.
func onePerID(ids []string, states []cloud.State) (got []string, ok bool) {
	for _, st := range states {
		got = append(got, st.DeviceID)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	slices.Sort(got)
	return got, slices.Equal(got, want)
}

// ByID returns states by DeviceID.
func ByID(states []cloud.State) map[string]cloud.State {
	out := make(map[string]cloud.State, len(states))
	for _, st := range states {
		out[st.DeviceID] = st
	}
	return out
}

// MustApply sends cmd; an error is tracked in r and fails t.
func MustApply(t TB, r *Recorder, p cloud.Provider, cmd cloud.Command) {
	t.Helper()
	err := p.Apply(Context(t), cmd)
	r.Track(err)
	if err != nil {
		t.Fatalf("Apply(%s): %v", cmd, err)
	}
}
