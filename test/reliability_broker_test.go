package test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// Reliability scenario 1: the broker is killed and restarted again and
// again while commands are being sent.
//
// What the bridge promises (it connects with a clean session, on purpose:
// a command queued for it while it was away is stale by the time it is back):
//
//   - Every command the bridge received is applied, in the order it was
//     published, even when the broker dies right after delivering it.
//   - Every command published while the bridge is connected and subscribed
//     (its retained bridge/state says online) is applied, as long as the
//     broker stays up until the bridge received it.
//   - A command published while the bridge is disconnected, or swallowed by
//     a broker that is killed before delivering it, is not applied later out
//     of order: commands for one device never overtake each other.
//   - After each broker restart bridge/state online, discovery, availability
//     and state are back within recoverBudget.

// recoverBudget is how soon after the broker is back everything must be
// republished, on a machine with a core to spare (see stretched).
const recoverBudget = 5 * time.Second

// tryPublish publishes a non-retained message at QoS 1, as publish does,
// but reports a missing PUBACK (within d) as an error instead of failing
// the test, for publishers racing a broker restart.
func (r *recorder) tryPublish(topic, payload string, d time.Duration) error {
	tok := r.client.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(d) {
		return fmt.Errorf("publish %s: no PUBACK within %s", topic, d)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// sentCmd is one relay command the test published.
type sentCmd struct {
	on bool
	// must: published while the bridge was connected, with the broker
	// kept up until the command was applied; it may not be lost.
	must bool
}

// commandBook remembers the relay commands published per device, in
// publish order. Safe for concurrent use.
type commandBook struct {
	mu   sync.Mutex
	sent map[string][]sentCmd
	n    int
}

func newCommandBook() *commandBook { return &commandBook{sent: map[string][]sentCmd{}} }

func (b *commandBook) add(id string, on, must bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent[id] = append(b.sent[id], sentCmd{on: on, must: must})
	b.n++
}

func (b *commandBook) snapshot(id string) []sentCmd {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent[id])
}

func (b *commandBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// matchApplied checks applied, the relay values the cloud applied to one
// device in order, against the commands published for it. Each applied
// value must be a published command, in publish order; it may repeat the
// command before it (a QoS 1 redelivery or a retry of a failed call, both
// harmless for an idempotent set), and it may skip commands that were not
// must. Matching is exact over every way the values can be assigned. done
// reports whether every must command has been applied; err that the order
// is impossible (a command was reordered, invented, or a must one skipped).
func matchApplied(sent []sentCmd, applied []bool) (done bool, err error) {
	// pos holds every index of sent the last applied value may be.
	pos := map[int]bool{-1: true}
	for i, v := range applied {
		next := map[int]bool{}
		for k := range pos {
			if k >= 0 && sent[k].on == v {
				next[k] = true // a repeat of the same command
			}
			for m := k + 1; m < len(sent); m++ {
				if sent[m].on == v {
					next[m] = true
				}
				if sent[m].must {
					break // cannot skip a must command
				}
			}
		}
		if len(next) == 0 {
			return false, fmt.Errorf("applied value %d (%s) does not follow the published order: a command that had to be applied was lost, or commands were reordered\npublished: %s\napplied:   %s",
				i, onOff(v), sentString(sent), appliedString(applied))
		}
		pos = next
	}
	for k := range pos {
		rest := sent[k+1:]
		if !slices.ContainsFunc(rest, func(c sentCmd) bool { return c.must }) {
			return true, nil
		}
	}
	return false, nil
}

func sentString(sent []sentCmd) string {
	var b strings.Builder
	for _, c := range sent {
		s := "0"
		if c.on {
			s = "1"
		}
		if !c.must {
			s = map[string]string{"0": "o", "1": "i"}[s]
		}
		b.WriteString(s)
	}
	return b.String() + " (1/0 must, i/o may be lost)"
}

func appliedString(applied []bool) string {
	var b strings.Builder
	for _, v := range applied {
		if v {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// waitApplied waits until the cloud applied every must command of ids in
// order; it fails the test at once when the applied order is impossible.
func (b *commandBook) waitApplied(t *testing.T, fake *kasatest.Server, ids []string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		pending := ""
		for _, id := range ids {
			done, err := matchApplied(b.snapshot(id), fake.RelayHistory(id))
			if err != nil {
				t.Fatalf("device %s: %v", id, err)
			}
			if !done && pending == "" {
				pending = id
			}
		}
		if pending == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device %s: commands not applied within %s\npublished: %s\napplied:   %s", pending, waitFor,
				sentString(b.snapshot(pending)), appliedString(fake.RelayHistory(pending)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastCmd is the value of the last command published for id.
func (b *commandBook) lastCmd(id string) (on, ok bool) {
	s := b.snapshot(id)
	if len(s) == 0 {
		return false, false
	}
	return s[len(s)-1].on, true
}

// waitBack waits until the recorder saw, at index >= from, bridge/state
// online and discovery, availability online and state of every device in
// ids, and returns when the last of them arrived.
func (h *harness) waitBack(from int, ids []string, topics map[string]string) time.Time {
	h.t.Helper()
	last := h.rec.waitMsg(from, base+"/bridge/state", contains(`"online"`)).at
	later := func(m msg) {
		if m.at.After(last) {
			last = m.at
		}
	}
	nonEmpty := func(p string) bool { return p != "" }
	for _, id := range ids {
		later(h.rec.waitMsg(from, configTopic(id), nonEmpty))
		later(h.rec.waitMsg(from, base+"/"+topics[id]+"/availability", contains(`"online"`)))
		later(h.rec.waitMsg(from, base+"/"+topics[id], nonEmpty))
	}
	return last
}

// bridgeConnectedAfter returns when the bridge logged its connection to
// the broker after t0 (zero when it did not).
func (h *harness) bridgeConnectedAfter(t0 time.Time) time.Time {
	for _, e := range h.logs.All() {
		if e.Time.After(t0) && e.Message == "connected to the MQTT broker" {
			return e.Time
		}
	}
	return time.Time{}
}

func TestReliability_BrokerRestartsUnderCommandLoad(t *testing.T) {
	t.Parallel()
	forEachBroker(t, func(t *testing.T, kind string) {
		h := newHarness(t, kind)
		f := h.addFleet()
		h.start()
		all := append([]string{f.lamp, f.kettle, f.fridge, f.strip}, f.outlets...)
		targets := []string{f.lamp, f.kettle, f.fridge, f.outlets[0], f.outlets[5]}
		topics := map[string]string{}
		for _, id := range all {
			topics[id] = h.deviceTopic(0, id)
		}
		h.waitBack(0, targets, topics)

		seed := uint64(time.Now().UnixNano())
		t.Logf("%s: random seed %d", kind, seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		book := newCommandBook()

		// settled publishes three commands per target device while the
		// bridge is connected and waits until the cloud applied them all.
		settled := func() {
			for range 3 {
				for _, i := range rng.Perm(len(targets)) {
					id, on := targets[i], rng.IntN(2) == 1
					book.add(id, on, true)
					h.rec.publish(base+"/"+topics[id]+"/set", onOff(on), false)
				}
			}
			book.waitApplied(t, h.fake, targets)
		}

		const restarts = 10
		var worst time.Duration
		for round := 1; round <= restarts; round++ {
			settled()

			// Keep commands coming while the broker is killed: each waits
			// for its PUBACK, so at most one is in flight when it dies.
			stop := make(chan struct{})
			sent := make(chan int, 1)
			srng := rand.New(rand.NewPCG(seed, uint64(round)+1))
			go func() {
				n := 0
				defer func() { sent <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					id, on := targets[srng.IntN(len(targets))], srng.IntN(2) == 1
					book.add(id, on, false)
					if h.rec.tryPublish(base+"/"+topics[id]+"/set", onOff(on), 10*time.Second) != nil {
						return
					}
					n++
					time.Sleep(5 * time.Millisecond)
				}
			}()
			time.Sleep(100*time.Millisecond + time.Duration(rng.Int64N(int64(300*time.Millisecond))))
			killed := time.Now()
			h.broker.stop()
			close(stop)
			time.Sleep(brokerDowntime)
			mk := h.rec.mark()
			h.broker.start()
			up := time.Now()
			back := h.waitBack(mk, all, topics).Sub(up)
			n := <-sent // its last publish went out once the recorder reconnected
			conn := h.bridgeConnectedAfter(up)
			t.Logf("%s: broker restart %d: down for %v; bridge reconnected after %v, everything back after %v (%d commands sent around the kill)",
				kind, round, up.Sub(killed).Round(time.Millisecond), conn.Sub(up).Round(time.Millisecond), back.Round(time.Millisecond), n)
			worst = max(worst, back)
			if budget := stretched(recoverBudget); back > budget {
				t.Errorf("%s: broker restart %d: bridge/state, discovery, availability and state back after %v, want at most %v",
					kind, round, back.Round(time.Millisecond), budget)
			}
		}
		settled()
		for _, id := range targets {
			want, _ := book.lastCmd(id)
			if got := h.fake.Relay(id); got != want {
				t.Errorf("device %s ends %s, but the last command was %s", id, onOff(got), onOff(want))
			}
		}
		t.Logf("%s: %d restarts, %d commands, slowest recovery %v", kind, restarts, book.count(), worst.Round(time.Millisecond))
	})
}

func TestMatchApplied_FindsLostAndReorderedCommands(t *testing.T) {
	t.Parallel()
	must := func(on ...bool) []sentCmd {
		var s []sentCmd
		for _, v := range on {
			s = append(s, sentCmd{on: v, must: true})
		}
		return s
	}
	const I, O = true, false
	for _, tc := range []struct {
		name     string
		sent     []sentCmd
		applied  []bool
		done, ok bool
	}{
		{"all in order", must(I, O, I), []bool{I, O, I}, true, true},
		{"a prefix: not done yet", must(I, O, I), []bool{I, O}, false, true},
		{"repeats of a command (retries)", must(I, O), []bool{I, I, O, O}, true, true},
		{"the same value twice in a row", must(I, I), []bool{I, I}, true, true},
		{"one of two equal commands", must(I, I), []bool{I}, false, true},
		{"lost commands are never done", must(I, O, I, O), []bool{I, O}, false, true},
		{"reordered", must(I, O), []bool{O, I}, false, false},
		{"the last two swapped", must(I, O, O, I), []bool{I, O, I, O}, false, false},
		{"a lost first command", must(O, I, O), []bool{I, O}, false, false},
		{"an invented command", must(I), []bool{O}, false, false},
		{"optional ones may be lost", []sentCmd{{I, true}, {O, false}, {I, false}, {O, true}}, []bool{I, O}, true, true},
		{"an optional one before a must of the same value", []sentCmd{{O, false}, {I, false}, {I, true}, {O, true}}, []bool{O, I, O}, true, true},
		{"a must cannot be skipped for an optional one", []sentCmd{{O, true}, {I, false}}, []bool{I}, false, false},
	} {
		done, err := matchApplied(tc.sent, tc.applied)
		if done != tc.done || (err == nil) != tc.ok {
			t.Errorf("%s: done=%v err=%v, want done=%v ok=%v", tc.name, done, err, tc.done, tc.ok)
		}
	}
}
