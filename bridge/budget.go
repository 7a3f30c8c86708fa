package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// errBudgetSpent refuses a command of an account whose call budget for
// the period is spent.
var errBudgetSpent = errors.New("the account's call budget for this period is spent")

// callCounter returns how p's calls are counted, nil without a ledger.
func (b *Bridge) callCounter(p cloud.Provider) callCounter {
	return accountCalls(b.opts.Calls, p)
}

func accountCalls(l *cloud.CallLedger, p cloud.Provider) callCounter {
	if l == nil {
		return nil
	}
	kind, account := p.Kind(), p.Account()
	return func(now time.Time) cloud.CallCounts { return l.Counts(kind, account, now) }
}

// commandAllowed returns nil when p's budget (if any) still holds a
// command and the read that confirms it, else an error wrapping
// errBudgetSpent with the numbers. Commands are never held back by the
// pacing of polls, only by the period's budget.
func commandAllowed(l *cloud.CallLedger, bu cloud.Budget, p cloud.Provider, now time.Time) error {
	if l == nil || bu.IsZero() {
		return nil
	}
	used := bu.Used(l.Counts(p.Kind(), p.Account(), now))
	if used+commandReserve <= bu.Calls {
		return nil
	}
	return fmt.Errorf("%w: %d of %s used; it renews at %s", errBudgetSpent, used, bu,
		bu.PeriodEnd(now).Format(time.RFC3339))
}

// callsInfo is an account's calls in bridge/info.
type callsInfo struct {
	// Day and Month are the calls this UTC day and month.
	Day   int `json:"day"`
	Month int `json:"month"`
	// Budget is accounts[].budget ("none" without one).
	Budget string `json:"budget"`
	// Left is what is left of the budget this period (absent: none).
	Left *int `json:"left,omitempty"`
}

// accountCallsInfo returns p's calls for bridge/info, nil without a
// ledger.
func accountCallsInfo(l *cloud.CallLedger, bu cloud.Budget, p cloud.Provider, now time.Time) *callsInfo {
	if l == nil {
		return nil
	}
	c := l.Counts(p.Kind(), p.Account(), now)
	ci := &callsInfo{Day: c.Day, Month: c.Month, Budget: bu.String()}
	if !bu.IsZero() {
		left := max(bu.Calls-bu.Used(c), 0)
		ci.Left = &left
	}
	return ci
}
