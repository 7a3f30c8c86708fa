package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Go's default (GOGC=100) lets the heap grow to twice what was live after
// the last collection before it collects again. For kasa2mqtt, whose live
// heap is mostly long-lived (the embedded broker's retained messages, the
// device registry) and whose garbage comes in small steady amounts, that
// doubling was most of its memory: 125 MB of anonymous memory for a 50 MB
// live heap with 2,000 devices. TuneGC lets the heap grow by a quarter of
// what is live, but never by less than minHeadroom, so a small daemon
// keeps Go's default and a large one collects a little more often
// (docs/performance.md has the measurements).
//
// It adjusts GOGC, not a memory limit: a fixed limit (GOMEMLIMIT) below
// what is live makes the collector run almost without pause (measured:
// GOMEMLIMIT=64MiB with a 50 MB live heap took 48 % of a core instead of
// 5 %), and no fixed figure fits every number of devices.
const (
	minHeadroom     = 16 << 20 // bytes the heap may always grow by
	headroomPercent = 25       // of the live heap, when more than minHeadroom
)

// gcPercent is the GOGC that lets a heap with live bytes grow by
// max(minHeadroom, live × headroomPercent %), capped at Go's default 100.
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	p := int(uint64(minHeadroom) * 100 / live)
	return min(100, max(headroomPercent, p))
}

// gcTuningWanted reports whether TuneGC should act: not when the user set
// GOGC or GOMEMLIMIT (their settings apply as Go documents them).
func gcTuningWanted(getenv func(string) string) bool {
	return getenv("GOGC") == "" && getenv("GOMEMLIMIT") == ""
}

// TuneGC sets GOGC after every garbage collection from the heap live after
// it (gcPercent), unless the environment sets GOGC or GOMEMLIMIT. The
// returned stop ends the tuning and restores GOGC to what it was; it is
// safe to call more than once. The tuning runs on the runtime's finalizer
// goroutine and costs a metrics read per collection.
func TuneGC() (stop func()) {
	if !gcTuningWanted(os.Getenv) {
		return func() {}
	}
	return startGCTuner().stop
}

type gcTuner struct {
	previous int
	stopped  atomic.Bool
	tuned    atomic.Int64 // collections tuned after
}

func startGCTuner() *gcTuner {
	t := &gcTuner{previous: debug.SetGCPercent(100)}
	debug.SetGCPercent(t.previous)
	t.arm()
	return t
}

// gcSentinel is an object whose finalizer runs once after the collection
// that found it unreachable; it holds a pointer so that it is not placed
// in a tiny-allocation block shared with other objects.
type gcSentinel struct {
	_ *gcTuner
	_ [16]byte
}

// arm allocates a sentinel whose finalizer tunes and arms the next one.
func (t *gcTuner) arm() {
	s := &gcSentinel{}
	runtime.SetFinalizer(s, func(*gcSentinel) {
		if t.stopped.Load() {
			return
		}
		t.tune()
		t.arm()
	})
}

func (t *gcTuner) tune() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	debug.SetGCPercent(gcPercent(sample[0].Value.Uint64()))
	t.tuned.Add(1)
}

func (t *gcTuner) stop() {
	if t.stopped.CompareAndSwap(false, true) {
		debug.SetGCPercent(t.previous)
	}
}
