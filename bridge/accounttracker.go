package bridge

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Account statuses, as shown in bridge/info and health_check.
const (
	statusStarting    = "starting" // nothing listed yet
	statusOK          = "ok"
	statusAuthError   = "auth_error"
	statusRateLimited = "rate_limited"
	statusError       = "error"
)

// accountStatus is what is known about one account's health.
type accountStatus struct {
	status  string
	errAt   time.Time // last failed call
	lastErr string
	since   time.Time // first failure of the current streak
	count   int       // failed calls in the streak
}

// problem reports whether the account is failing (not starting, not ok).
func (s accountStatus) problem() bool { return s.status != statusOK && s.status != statusStarting }

// accountTracker follows every account's status so that a failing account
// logs once per distinct error, and once when it recovers. It is owned by
// the registry (not safe for concurrent use) and does no I/O besides logging.
type accountTracker struct {
	log      *zap.Logger
	clock    clock
	accounts map[cloud.Provider]*accountStatus
}

func newAccountTracker(log *zap.Logger, c clock) *accountTracker {
	return &accountTracker{log: log, clock: c, accounts: map[cloud.Provider]*accountStatus{}}
}

// get returns p's status record, creating it as starting.
func (t *accountTracker) get(p cloud.Provider) *accountStatus {
	as := t.accounts[p]
	if as == nil {
		as = &accountStatus{status: statusStarting}
		t.accounts[p] = as
	}
	return as
}

// status returns a copy of p's status.
func (t *accountTracker) status(p cloud.Provider) accountStatus { return *t.get(p) }

// errorStatus classifies an account-level error.
func errorStatus(err error) string {
	switch {
	case errors.Is(err, cloud.ErrAuth):
		return statusAuthError
	case errors.Is(err, cloud.ErrRateLimited):
		return statusRateLimited
	}
	return statusError
}

// failed records a failed account-wide call (op names it). It returns true
// when err differs from the account's previous error: it was logged, and
// the caller announces it (account_error, bridge/info, readiness). A
// repeat is logged at debug level only.
func (t *accountTracker) failed(p cloud.Provider, op string, err error) bool {
	as := t.get(p)
	as.count++
	as.errAt = t.clock.Now()
	msg := err.Error()
	if msg == as.lastErr {
		t.log.Debug("cloud account still failing", zap.String(keyAccount, p.Account()), zap.String("op", op),
			zap.Int("consecutive_errors", as.count), zap.Error(err))
		return false
	}
	if as.lastErr == "" {
		as.since = as.errAt
	}
	as.lastErr = msg
	as.status = errorStatus(err)
	t.log.Error("cloud account error; devices will show unavailable until it recovers",
		zap.String(keyAccount, p.Account()), zap.String(keyProvider, p.Kind()), zap.String("op", op), zap.Error(err))
	return true
}

// ok records a successful account-wide call. changed is false when the
// account was ok already; recovered is true when it ended a failure (the
// recovery was logged).
func (t *accountTracker) ok(p cloud.Provider) (changed, recovered bool) {
	as := t.get(p)
	if as.status == statusOK {
		return false, false
	}
	if as.lastErr != "" {
		recovered = true
		t.log.Info("cloud account recovered", zap.String(keyAccount, p.Account()),
			zap.Int("failed_calls", as.count), zap.Duration("after", t.clock.Now().Sub(as.since).Round(time.Second)))
	}
	*as = accountStatus{status: statusOK}
	return true, recovered
}

// attention lists, for each account stopped on an authentication error
// (a refused password, a login only a person can do), "account <name>:
// <error>", the error with its advice; for Bridge.Attention.
func (t *accountTracker) attention(providers []cloud.Provider) []string {
	var out []string
	for _, p := range providers {
		if as := t.get(p); as.status == statusAuthError {
			out = append(out, "account "+p.Account()+": "+as.lastErr)
		}
	}
	return out
}

// waiting lists the accounts of providers that have not reached a steady
// state yet (listed once, or failed for a reported reason), for Ready.
func (t *accountTracker) waiting(providers []cloud.Provider) []string {
	var out []string
	for _, p := range providers {
		if t.get(p).status == statusStarting {
			out = append(out, p.Account())
		}
	}
	return out
}
