package bridge

import (
	"container/heap"
	"math"
	"slices"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Adaptive reads, on accounts with a call budget (schedule.adaptive): a
// slot whose devices are all off and draw nothing for quietReads reads in
// a row is read quietFactor times less often; after a command, or a read
// that found a relay or the power changed, the slot is read once more
// after a third of the interval (unless its regular read comes sooner).
// Accounts without a budget are read at their interval, no more, no less.
const (
	quietReads  = 3
	quietFactor = 2
	// changedWatts and changedShare: a power reading differs when it moved
	// by at least this many watts and this share of the last one.
	changedWatts = 2.0
	changedShare = 0.1
	// activeWatts: a device drawing more is not quiet.
	activeWatts = 1.0
)

// slot is one read of a schedule: the ids one ReadStates call reads
// together (a physical device with its outlets, or a batch), its cost and
// when it is due.
type slot struct {
	key  string // the first id: a slot keeps its place across re-plans
	ids  []string
	cost int
	// next is the regular read; extra, when set, a sooner one.
	next, extra time.Time
	busy        bool
	quiet       int       // reads in a row that found nothing on
	last        []reading // per id, what the last read found
	index       int       // in the heap; -1 while busy
}

// reading is what a read found of one device, for change detection.
type reading struct {
	known, on bool
	watts     float64
	hasWatts  bool
}

func (s *slot) due() time.Time {
	if !s.extra.IsZero() && s.extra.Before(s.next) {
		return s.extra
	}
	return s.next
}

// schedule is one account's plan of reads: its slots, each due at its own
// time, spread over the interval like a prober's targets. Only its poller
// uses it; it does no I/O and reads no clock (times are passed in).
type schedule struct {
	interval time.Duration // effective (stretched) interval
	adaptive bool          // read quiet slots less often, changed ones sooner
	slots    map[string]*slot
	byID     map[string]*slot
	queue    slotHeap // slots not under way, by due time
}

func newSchedule(interval time.Duration) *schedule {
	return &schedule{interval: interval, slots: map[string]*slot{}, byID: map[string]*slot{}}
}

// plan replaces the slots with groups. Slots that keep their key keep
// their times; new ones are due at now. With spread set (the first plan)
// every slot is due at now, and the
// following reads are spread evenly over one interval from now.
func (s *schedule) plan(groups []cloud.ReadGroup, now time.Time, spread bool) {
	old := s.slots
	s.slots = make(map[string]*slot, len(groups))
	s.byID = map[string]*slot{}
	s.queue = s.queue[:0]
	for i, g := range groups {
		if len(g.IDs) == 0 {
			continue
		}
		key := g.IDs[0]
		sl := old[key]
		if sl == nil || spread {
			sl = &slot{next: now}
			if spread {
				// Due now; its regular read after that comes at its phase.
				sl.extra = now
				sl.next = now.Add(s.interval + time.Duration(i)*s.interval/time.Duration(len(groups)))
			}
		}
		if !slices.Equal(sl.ids, g.IDs) {
			sl.last = make([]reading, len(g.IDs))
		}
		sl.key, sl.ids, sl.cost = key, g.IDs, max(g.Calls, 1)
		s.slots[key] = sl
		for _, id := range g.IDs {
			s.byID[id] = sl
		}
		if !sl.busy {
			heap.Push(&s.queue, sl)
		}
	}
}

// len returns the number of slots.
func (s *schedule) len() int { return len(s.slots) }

// cycleCost returns the calls of one read of every slot.
func (s *schedule) cycleCost() (calls, maxSlot int) {
	for _, sl := range s.slots {
		calls += sl.cost
		maxSlot = max(maxSlot, sl.cost)
	}
	return calls, maxSlot
}

// ids returns every id of the schedule.
func (s *schedule) ids() []string {
	out := make([]string, 0, len(s.byID))
	for id := range s.byID {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// peek returns the slot due first, or nil.
func (s *schedule) peek() *slot {
	if len(s.queue) == 0 {
		return nil
	}
	return s.queue[0]
}

// take removes the slot due first from the queue and marks it under way.
func (s *schedule) take() *slot {
	sl := heap.Pop(&s.queue).(*slot)
	sl.busy = true
	return sl
}

// done puts a slot back after its read, which started at start: the
// regular read moves on by the interval (twice it for a quiet slot), a
// sooner read follows a change. states is nil when the read failed.
func (s *schedule) done(sl *slot, start time.Time, states []cloud.State) {
	sl.busy = false
	if s.slots[sl.key] != sl {
		return // re-planned away meanwhile
	}
	changed := s.observe(sl, states)
	// A read may start up to dispatchSlack before it is due.
	served := start.Add(dispatchSlack)
	if !sl.extra.IsZero() && !sl.extra.After(served) {
		sl.extra = time.Time{}
	}
	if !sl.next.After(served) {
		step := s.interval
		if s.adaptive && sl.quiet >= quietReads {
			step *= quietFactor
		}
		sl.next = sl.next.Add(step)
		if !sl.next.After(start) {
			// Far behind (a long pause or a stretched cycle): resume from
			// now rather than catch up.
			sl.next = start.Add(step)
		}
	}
	if changed && s.adaptive {
		s.soon(sl, start)
	}
	heap.Push(&s.queue, sl)
}

// soon asks for a read of sl a third of an interval after now, unless the
// regular one comes before half an interval.
func (s *schedule) soon(sl *slot, now time.Time) {
	if sl.next.Sub(now) <= s.interval/2 {
		return
	}
	at := now.Add(s.interval / 3)
	if sl.extra.IsZero() || at.Before(sl.extra) {
		sl.extra = at
	}
}

// hurry asks for a sooner read of the slot holding id (after a command):
// it is no longer quiet.
func (s *schedule) hurry(id string, now time.Time) {
	sl := s.byID[id]
	if sl == nil || !s.adaptive {
		return
	}
	sl.quiet = 0
	s.soon(sl, now)
	if !sl.busy {
		heap.Fix(&s.queue, sl.index)
	}
}

// dueAll makes every slot due at at, together (a round), with no sooner
// read pending.
func (s *schedule) dueAll(at time.Time) {
	for _, sl := range s.slots {
		sl.next, sl.extra = at, time.Time{}
	}
	heap.Init(&s.queue)
}

// respread spreads the slots' regular reads evenly over one interval from
// now (after a round).
func (s *schedule) respread(now time.Time) {
	keys := make([]string, 0, len(s.slots))
	for k := range s.slots {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		sl := s.slots[k]
		sl.next = now.Add(time.Duration(i+1) * s.interval / time.Duration(len(keys)))
	}
	heap.Init(&s.queue)
}

// observe updates the slot's quiet count from a read (quiet: a relay is
// known off, none is on, nothing draws power and nothing changed) and
// reports whether a relay or the power changed.
func (s *schedule) observe(sl *slot, states []cloud.State) bool {
	if states == nil {
		return false
	}
	changed, active, off := false, false, false
	for _, st := range states {
		i := slices.Index(sl.ids, st.DeviceID)
		if i < 0 || st.Err != nil {
			continue
		}
		r := reading{}
		if st.Relay != nil {
			r.known, r.on = true, *st.Relay
		}
		if st.PowerW != nil {
			r.hasWatts, r.watts = true, *st.PowerW
		}
		prev := sl.last[i]
		if prev.known && r.known && prev.on != r.on {
			changed = true
		}
		if prev.hasWatts && r.hasWatts && math.Abs(r.watts-prev.watts) >= max(changedWatts, changedShare*prev.watts) {
			changed = true
		}
		if (r.known && r.on) || (r.hasWatts && r.watts > activeWatts) {
			active = true
		}
		if r.known && !r.on {
			off = true
		}
		sl.last[i] = r
	}
	if active || changed || !off {
		sl.quiet = 0
	} else {
		sl.quiet++
	}
	return changed
}

// slotHeap orders slots by due time, then key.
type slotHeap []*slot

func (h slotHeap) Len() int { return len(h) }
func (h slotHeap) Less(i, j int) bool {
	a, b := h[i].due(), h[j].due()
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].key < h[j].key
}
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *slotHeap) Push(x any) {
	sl := x.(*slot)
	sl.index = len(*h)
	*h = append(*h, sl)
}
func (h *slotHeap) Pop() any {
	old := *h
	sl := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	sl.index = -1
	return sl
}
