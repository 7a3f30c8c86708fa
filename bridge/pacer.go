package bridge

import (
	"math"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// How an account's call budget is shared: polls get what is left after a
// reserve for commands and their confirmations and the share of the
// device-list refreshes (whose interval stretches so that they take at
// most listShare).
const (
	commandShare = 0.1
	listShare    = 0.1
	// commandReserve calls are always left in the bucket by polls and
	// lists, for a command and the read that confirms it.
	commandReserve = 2
	// minBurst is the smallest burst allowance of the bucket.
	minBurst = 5
)

// callCounter reports an account's calls; a *cloud.CallLedger behind a
// closure in production.
type callCounter func(now time.Time) cloud.CallCounts

// pacer keeps one account's spending within its budget: a token bucket
// that fills at the budget's rate (calls per period ÷ period, or what is
// left ÷ the time left, if less) up to a small burst, and that every call
// of the account empties (polls, lists, commands, token renewals: the
// ledger sees them all). Polls and lists go only when the bucket holds
// their cost plus commandReserve and the period's budget holds it too;
// commands are never held back by the bucket, only by the period's
// budget (see Bridge.commandAllowed). Only the poller uses it.
type pacer struct {
	budget cloud.Budget
	counts callCounter // nil: no budget

	level float64 // tokens
	at    time.Time
	total uint64 // the ledger's total at `at`
	burst float64
	// prepaid are calls taken from the bucket when reads started, not yet
	// seen by the ledger; pending the estimated calls of the reads under
	// way (counted against the period's budget until they end).
	prepaid float64
	pending int
}

func newPacer(b cloud.Budget, counts callCounter) *pacer {
	if b.IsZero() || counts == nil {
		return &pacer{}
	}
	return &pacer{budget: b, counts: counts, burst: minBurst}
}

// limited reports whether the account has a budget.
func (pc *pacer) limited() bool { return pc.counts != nil }

// start adds the first cycle of reads to the bucket (the start-up
// allowance: every device is read once at start).
func (pc *pacer) start(now time.Time, cycleCost, maxSlot int) {
	if !pc.limited() {
		return
	}
	pc.refill(now)
	pc.burst = float64(max(minBurst, maxSlot+commandReserve))
	pc.level = max(pc.level, 0) + float64(cycleCost)
}

// setBurst resizes the burst for the largest slot.
func (pc *pacer) setBurst(maxSlot int) {
	pc.burst = float64(max(minBurst, maxSlot+commandReserve))
}

// rate is the calls per second the account may spend from now on.
func (pc *pacer) rate(now time.Time, c cloud.CallCounts) float64 {
	r := pc.budget.Rate(now)
	left := float64(pc.budget.Calls - pc.budget.Used(c))
	rest := pc.budget.PeriodEnd(now).Sub(now).Seconds()
	if rest > 0 {
		r = min(r, math.Max(left, 0)/rest)
	}
	return r
}

// refill brings the bucket to now.
func (pc *pacer) refill(now time.Time) cloud.CallCounts {
	c := pc.counts(now)
	if pc.at.IsZero() {
		// Start-up: a full bucket, and nothing spent before counts.
		pc.level, pc.total, pc.at = pc.burst, c.Total, now
	}
	if now.After(pc.at) {
		pc.level = min(pc.burst, pc.level+pc.rate(now, c)*now.Sub(pc.at).Seconds())
	}
	spent := float64(c.Total - pc.total)
	covered := min(spent, pc.prepaid)
	pc.prepaid -= covered
	pc.level -= spent - covered
	pc.total, pc.at = c.Total, now
	return c
}

// take pays for a read or list of cost calls that starts now (allow said
// yes); done(cost) once it ended.
func (pc *pacer) take(cost int) {
	if !pc.limited() {
		return
	}
	pc.level -= float64(cost)
	pc.prepaid += float64(cost)
	pc.pending += cost
}

// done ends a read or list started with take: what it did not spend of
// its estimate is not taken back (the ledger's count decides).
func (pc *pacer) done(cost int) {
	if !pc.limited() {
		return
	}
	pc.pending = max(pc.pending-cost, 0)
	if pc.pending == 0 {
		// Everything under way ended: the ledger has seen it all, and a
		// read that cost less than estimated gives the rest back.
		pc.level += pc.prepaid
		pc.prepaid = 0
	}
}

// allow reports whether a read or list costing cost calls may go now,
// and if not, how long to wait before asking again.
func (pc *pacer) allow(now time.Time, cost int) (bool, time.Duration) {
	if !pc.limited() {
		return true, 0
	}
	c := pc.refill(now)
	need := float64(cost + commandReserve)
	if pc.budget.Used(c)+pc.pending+cost+commandReserve > pc.budget.Calls {
		// The period's budget is spent: wait for the next period.
		return false, pc.budget.PeriodEnd(now).Sub(now) + time.Second
	}
	if pc.level >= need {
		return true, 0
	}
	r := pc.rate(now, c)
	if r <= 0 {
		return false, pc.budget.PeriodEnd(now).Sub(now) + time.Second
	}
	wait := time.Duration((need - pc.level) / r * float64(time.Second))
	return false, max(wait, time.Second)
}

// intervals derives the poll and list intervals the budget pays for,
// given the configured ones, a cycle's cost and a list's cost: lists take
// at most listShare of the rate, polls what is left after commandShare
// and the lists.
func (pc *pacer) intervals(now time.Time, poll, list time.Duration, cycleCost, listCost int) (time.Duration, time.Duration) {
	if !pc.limited() {
		return poll, list
	}
	r := pc.rate(now, pc.counts(now))
	if r <= 0 {
		return max(poll, pc.budget.PeriodEnd(now).Sub(now)), max(list, pc.budget.PeriodEnd(now).Sub(now))
	}
	if listCost > 0 {
		list = max(list, seconds(float64(listCost)/(listShare*r)))
	}
	listRate := float64(listCost) / list.Seconds()
	pollRate := max(r*(1-commandShare)-listRate, r*(1-commandShare-listShare))
	if cycleCost > 0 {
		poll = max(poll, seconds(float64(cycleCost)/pollRate))
	}
	return poll, list
}

// seconds turns s into a Duration rounded up to a whole second.
func seconds(s float64) time.Duration {
	return time.Duration(math.Ceil(s)) * time.Second
}

// BudgetPollInterval returns the poll interval an account with budget b
// can afford at t, with nothing spent yet, when a poll costs callsPerPoll
// calls and a device list listCalls calls every list interval (both as
// the scheduler shares the budget: commandShare kept for commands, lists
// at most listShare), and at least poll. For check-config's estimates.
func BudgetPollInterval(b cloud.Budget, t time.Time, poll, list time.Duration, callsPerPoll, listCalls int) time.Duration {
	pc := newPacer(b, func(time.Time) cloud.CallCounts { return cloud.CallCounts{} })
	d, _ := pc.intervals(t, poll, list, callsPerPoll, listCalls)
	return d
}
