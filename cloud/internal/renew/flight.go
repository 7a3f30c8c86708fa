// Package renew serialises the renewals of one account's credentials
// (token refresh, password login, token grant): at most one runs at a
// time, and callers that need one while it runs wait for it and share its
// outcome, so N calls that fail together on an expired token cause one
// renewal. That matters for clouds whose refresh tokens work once.
//
// A Flight knows nothing about tokens. Its users keep their credentials
// under their own lock, stamp them with a generation that changes with
// every renewal, and ask for a renewal only for the generation they saw
// refused; the renewal function checks again, under that lock, whether it
// is still needed (another renewal may have finished in the meantime).
package renew

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Flight runs renewals one at a time. The zero value is ready; a Flight
// is safe for concurrent use and must not be copied after first use.
type Flight struct {
	// Op names the wait in the error of a caller whose context ends while
	// it waits for someone else's renewal, e.g. `account "home": wait for
	// login`; empty means "wait for renewal".
	Op string

	mu      sync.Mutex
	cur     *attempt
	waiters int // callers blocked in wait, for tests
}

type attempt struct {
	done    chan struct{}
	err     error
	aborted bool // ended with a context error, or a panic
}

// Do runs fn as the renewal, unless one is already running: then it waits
// for that one and
//   - returns nil when it succeeded (the caller re-reads the renewed
//     credentials instead of renewing again);
//   - returns its error when it failed, so that one refusal is reported
//     to every caller that waited for it;
//   - tries again (runs fn itself, or waits for the next renewal) when it
//     ended with a context error (its own caller gave up) or panicked, as
//     long as ctx is alive: someone else's cancellation is not this
//     caller's failure.
//
// fn runs on the calling goroutine and must honour the caller's context
// itself. When ctx ends during a wait, Do returns an error wrapping
// ctx.Err() at once; the running renewal goes on for its own caller. A
// panic in fn is passed on to Do's caller after the waiters were released.
func (f *Flight) Do(ctx context.Context, fn func() error) error {
	return f.do(ctx, fn, false)
}

// Renew returns a credential newer than generation stale, the one the
// caller saw refused. current returns the credential held now ("" when
// none) with its generation, or the error that makes renewing pointless
// (a sticky refusal); it reads under the user's own lock. While the held
// credential is empty or still of generation stale, renew runs as the
// single renewal (see Do); a renewal that finds a newer credential
// already, because another one finished meanwhile, does not call renew.
// renew must change the generation when it succeeds.
func (f *Flight) Renew(ctx context.Context, stale uint64, current func() (string, uint64, error), renew func() error) (string, uint64, error) {
	var (
		cred string
		gen  uint64
	)
	newer := func() (bool, error) {
		var err error
		cred, gen, err = current()
		return err == nil && cred != "" && gen != stale, err
	}
	for {
		if ok, err := newer(); ok || err != nil {
			return cred, gen, err
		}
		err := f.Do(ctx, func() error {
			if ok, err := newer(); ok || err != nil {
				return nil // the loop reads the outcome
			}
			return renew()
		})
		if err != nil {
			return "", 0, err
		}
	}
}

// Exclusive runs fn as a renewal once no other renewal runs, whatever the
// outcome of those it waited for: for an explicit login that must happen
// even when an automatic one just failed. It returns fn's error, or an
// error wrapping ctx.Err() when ctx ends while it waits.
func (f *Flight) Exclusive(ctx context.Context, fn func() error) error {
	return f.do(ctx, fn, true)
}

// do runs fn once no renewal runs; after waiting for one, a non-exclusive
// caller takes its outcome unless it was aborted.
func (f *Flight) do(ctx context.Context, fn func() error, exclusive bool) error {
	for {
		f.mu.Lock()
		a := f.cur
		if a == nil {
			a = f.startLocked()
			f.mu.Unlock()
			return f.run(a, fn)
		}
		f.mu.Unlock()
		if err := f.wait(ctx, a); err != nil {
			return err
		}
		if !exclusive && !(a.aborted && ctx.Err() == nil) {
			return a.err
		}
	}
}

func (f *Flight) startLocked() *attempt {
	a := &attempt{done: make(chan struct{})}
	f.cur = a
	return a
}

func (f *Flight) wait(ctx context.Context, a *attempt) error {
	f.mu.Lock()
	f.waiters++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.waiters--
		f.mu.Unlock()
	}()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		op := f.Op
		if op == "" {
			op = "wait for renewal"
		}
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
}

// run executes fn as attempt a and publishes its outcome, even if fn
// panics.
func (f *Flight) run(a *attempt, fn func() error) (err error) {
	panicked := true
	defer func() {
		f.mu.Lock()
		f.cur = nil
		a.err = err
		a.aborted = panicked || isContextError(err)
		close(a.done)
		f.mu.Unlock()
	}()
	err = fn()
	panicked = false
	return err
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
