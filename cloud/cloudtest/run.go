package cloudtest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// namedCheck is one check of the contract.
type namedCheck struct {
	name string
	run  func(c *check)
}

// contract lists the checks Run runs, each on a fresh Cloud.
var contract = []namedCheck{
	{"ListDevices", checkList},
	{"ReadStates_OneStatePerID", checkOneStatePerID},
	{"ReadStates_FollowsTheDevice", checkReadFollowsDevice},
	{"Capabilities", checkCapabilities},
	{"Apply_ReturnsOnceAccepted", checkApply},
	{"Energy", checkEnergy},
	{"Offline", checkOffline},
	{"RemovedDevice", checkRemoved},
	{"ExpiredTokens", checkExpiredTokens},
	{"RefusedCredentials", checkRefusedCredentials},
	{"Outage", checkOutage},
	{"RequestTimeout", checkRequestTimeout},
	{"Cancellation", checkCancellation},
	{"Concurrency", checkConcurrency},
	{"Optional", checkOptional},
	{"PlanReads", checkPlanReads},
	{"Lights", checkLights},
}

// Run checks the cloud.Provider contract (see the package documentation)
// against providers built by the Clouds fixture starts, one Cloud per
// check, each check a subtest of t. Run it under -race: concurrency safety
// is part of the contract.
func Run(t *testing.T, fixture Fixture) {
	t.Helper()
	for _, c := range contract {
		t.Run(c.name, func(t *testing.T) { c.run(start(t, t, fixture)) })
	}
}

// Violations runs the named checks (every check when none is named) like
// Run, but returns what each found wrong, by check name, instead of
// failing t: for testing that the suite catches a provider made to break
// the contract. t still owns the Clouds and their cleanup. Unknown names
// are an error of t.
func Violations(t *testing.T, fixture Fixture, checks ...string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	for _, name := range checks {
		if !slices.ContainsFunc(contract, func(c namedCheck) bool { return c.name == name }) {
			t.Errorf("cloudtest: no check %q", name)
		}
	}
	for _, c := range contract {
		if len(checks) > 0 && !slices.Contains(checks, c.name) {
			continue
		}
		r := &recorder{T: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.run(start(t, r, fixture))
		}()
		<-done
		r.cleanup()
		if len(r.failures) > 0 {
			found[c.name] = r.failures
		}
	}
	return found
}

// recorder is a TB that records failures instead of reporting them; its
// Fatalf ends the check's goroutine as testing's does.
type recorder struct {
	*testing.T // Logf, Context, TempDir

	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Error(args ...any) { r.fail(fmt.Sprint(args...)) }

func (r *recorder) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recorder) Context() context.Context { return r.T.Context() }

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, msg)
}

// cleanup runs the registered functions, last first.
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}
