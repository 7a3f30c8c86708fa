package bridge

import (
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func groups(ids ...string) []cloud.ReadGroup {
	out := make([]cloud.ReadGroup, len(ids))
	for i, id := range ids {
		out[i] = cloud.ReadGroup{IDs: []string{id}, Calls: 1}
	}
	return out
}

// takeDue takes every slot due at now (what the poller would start).
func takeDue(s *schedule, now time.Time) []*slot {
	var out []*slot
	for {
		sl := s.peek()
		if sl == nil || sl.due().After(now.Add(dispatchSlack)) {
			return out
		}
		out = append(out, s.take())
	}
}

func offState(id string) cloud.State { return cloud.State{DeviceID: id, Relay: cloud.Bool(false)} }

func onState(id string, watts float64) cloud.State {
	return cloud.State{DeviceID: id, Relay: cloud.Bool(true), PowerW: cloud.Float(watts)}
}

// After the first list every device is read at once; after that, each at
// its own phase, spread evenly over the interval.
func TestSchedule_FirstReadsAtOnceThenSpread(t *testing.T) {
	s := newSchedule(time.Minute)
	s.plan(groups("a", "b", "c", "d"), t0, true)
	first := takeDue(s, t0)
	if len(first) != 4 {
		t.Fatalf("%d slots due at start, want 4", len(first))
	}
	for _, sl := range first {
		s.done(sl, t0, []cloud.State{onState(sl.key, 10)})
	}
	var dues []time.Duration
	for range 4 {
		sl := s.peek()
		dues = append(dues, sl.due().Sub(t0))
		s.done(s.take(), sl.due(), nil)
	}
	want := []time.Duration{time.Minute, 75 * time.Second, 90 * time.Second, 105 * time.Second}
	for i := range want {
		if dues[i] != want[i] {
			t.Fatalf("second round due at %v, want %v", dues, want)
		}
	}
}

// A read started a little before it was due (the poller takes what falls
// due within dispatchSlack together) counts for that turn: the slot is not
// read again at once.
func TestSchedule_EarlyStartCountsForTheTurn(t *testing.T) {
	s := newSchedule(time.Minute)
	s.plan(groups("a"), t0, false)
	sl := s.take()
	s.done(sl, t0, []cloud.State{onState("a", 10)})
	if got := s.peek().due(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("due %v", got.Sub(t0))
	}
	early := t0.Add(time.Minute - dispatchSlack/2)
	s.done(s.take(), early, []cloud.State{onState("a", 10)})
	if got := s.peek().due(); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("after an early read, due %v, want 2m", got.Sub(t0))
	}
}

// On an account with a budget, a device that is off and draws nothing for
// three reads is read half as often; one that changes is read again after
// a third of the interval; a command (hurry) does the same and ends the
// quiet.
func TestSchedule_AdaptiveReads(t *testing.T) {
	s := newSchedule(time.Minute)
	s.adaptive = true
	s.plan(groups("a"), t0, false)
	now := t0
	read := func(st cloud.State) time.Duration {
		t.Helper()
		sl := s.take()
		s.done(sl, now, []cloud.State{st})
		next := s.peek().due()
		d := next.Sub(now)
		now = next
		return d
	}
	for i, want := range []time.Duration{time.Minute, time.Minute, 2 * time.Minute, 2 * time.Minute} {
		if got := read(offState("a")); got != want {
			t.Fatalf("quiet read %d: next after %s, want %s", i+1, got, want)
		}
	}
	if got := read(onState("a", 60)); got != 20*time.Second {
		t.Fatalf("after switching on: next after %s, want 20s", got)
	}
	// The sooner read does not move the regular one.
	if got := read(onState("a", 60)); got != 40*time.Second {
		t.Fatalf("after the sooner read: next after %s, want the regular turn (40s later)", got)
	}
	if got := read(onState("a", 60)); got != time.Minute {
		t.Fatalf("steady: next after %s, want 1m", got)
	}
	s.hurry("a", now.Add(-50*time.Second))
	if got := s.peek().due().Sub(now); got != -30*time.Second {
		t.Fatalf("after a command 50s ago: due in %s, want 20s after it", got)
	}
}

// Without a budget, every device is read at the interval, whatever it
// does.
func TestSchedule_NotAdaptiveWithoutABudget(t *testing.T) {
	s := newSchedule(time.Minute)
	s.plan(groups("a"), t0, false)
	now := t0
	for i, st := range []cloud.State{offState("a"), offState("a"), offState("a"), offState("a"), onState("a", 60)} {
		s.done(s.take(), now, []cloud.State{st})
		if d := s.peek().due().Sub(now); d != time.Minute {
			t.Fatalf("read %d: next after %s, want 1m", i+1, d)
		}
		now = s.peek().due()
	}
	s.hurry("a", now.Add(-30*time.Second))
	if d := s.peek().due().Sub(now); d != 0 {
		t.Fatalf("a command moved the read by %s", d)
	}
}

// A re-plan keeps the times of the slots that stay; new ones are due at
// once, gone ones are dropped (a read under way for one is forgotten).
func TestSchedule_ReplanKeepsPhases(t *testing.T) {
	s := newSchedule(time.Minute)
	s.plan(groups("a", "b"), t0, true)
	for _, sl := range takeDue(s, t0) {
		s.done(sl, t0, nil)
	}
	busy := s.take() // a, due at 1m, under way
	later := t0.Add(10 * time.Second)
	s.plan(groups("b", "c"), later, false)
	s.done(busy, later, nil)
	if s.len() != 2 || s.byID["a"] != nil {
		t.Fatalf("slots %v after re-plan", s.ids())
	}
	if sl := s.take(); sl.key != "c" || !sl.due().Equal(later) {
		t.Fatalf("first due %s at %v, want the new c at once", sl.key, sl.due().Sub(t0))
	}
	if sl := s.take(); sl.key != "b" || !sl.due().Equal(t0.Add(90*time.Second)) {
		t.Fatalf("then %s at %v, want b at its phase (1m30s)", sl.key, sl.due().Sub(t0))
	}
}

// A round makes every slot due together; after it, respread spreads
// them over the interval again.
func TestSchedule_RoundThenRespread(t *testing.T) {
	s := newSchedule(time.Minute)
	s.plan(groups("a", "b", "c"), t0, false)
	s.dueAll(t0.Add(5 * time.Minute))
	if got := takeDue(s, t0.Add(5*time.Minute)); len(got) != 3 {
		t.Fatalf("%d slots due in the round, want 3", len(got))
	}
	s2 := newSchedule(time.Minute)
	s2.plan(groups("a", "b", "c"), t0, false)
	s2.respread(t0)
	for i, want := range []time.Duration{20 * time.Second, 40 * time.Second, time.Minute} {
		if got := s2.take().due().Sub(t0); got != want {
			t.Fatalf("slot %d due after %s, want %s", i, got, want)
		}
	}
}
