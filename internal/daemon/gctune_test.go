package daemon

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestGCPercent: the heap may grow by a quarter of what is live, never by
// less than 16 MiB, and never by more than Go's default.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{4 << 20, 100},  // a few devices: Go's default
		{16 << 20, 100}, // 16 MiB of headroom is 100 %
		{32 << 20, 50},  // still 16 MiB
		{64 << 20, 25},  // a quarter
		{512 << 20, 25}, // a quarter
		{50 << 20, 32},  // 2,000 devices with the embedded broker
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestGCTuningHonoursTheEnvironment: GOGC or GOMEMLIMIT set by the user
// turn the tuning off.
func TestGCTuningHonoursTheEnvironment(t *testing.T) {
	for env, want := range map[string]bool{"": true, "GOGC": false, "GOMEMLIMIT": false} {
		getenv := func(k string) string {
			if k == env {
				return "50"
			}
			return ""
		}
		if got := gcTuningWanted(getenv); got != want {
			t.Errorf("with %q set: tuning %v, want %v", env, got, want)
		}
	}
}

// TestGCTunerFollowsCollections: the tuner runs after collections until
// stopped, and stop restores GOGC.
func TestGCTunerFollowsCollections(t *testing.T) {
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	tn := startGCTuner()
	deadline := time.Now().Add(10 * time.Second)
	for tn.tuned.Load() < 2 {
		if time.Now().After(deadline) {
			tn.stop()
			t.Fatalf("the tuner ran after %d collections, want 2", tn.tuned.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer goroutine's turn
	}
	tn.stop()
	tn.stop()
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("GOGC after stop = %d, want %d", got, before)
	}
}
