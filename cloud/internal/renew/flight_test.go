package renew

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// token is a minimal user of Flight: a credential with a generation.
type token struct {
	flight Flight
	mu     sync.Mutex
	gen    int
	runs   atomic.Int32
	fail   error
	gate   chan struct{} // when set, a renewal waits for it
}

// renew mirrors how the sessions use Flight: re-check, then Do.
func (tk *token) renew(ctx context.Context, stale int) (int, error) {
	for {
		tk.mu.Lock()
		if tk.gen != stale {
			g := tk.gen
			tk.mu.Unlock()
			return g, nil
		}
		tk.mu.Unlock()
		err := tk.flight.Do(ctx, func() error {
			tk.mu.Lock()
			still := tk.gen == stale
			tk.mu.Unlock()
			if !still {
				return nil
			}
			tk.runs.Add(1)
			if tk.gate != nil {
				select {
				case <-tk.gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if tk.fail != nil {
				return tk.fail
			}
			tk.mu.Lock()
			tk.gen++
			tk.mu.Unlock()
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
}

func TestDo_ConcurrentCallersShareOneRenewal(t *testing.T) {
	tk := &token{gate: make(chan struct{})}
	const n = 20
	var wg sync.WaitGroup
	gens := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { gens[i], errs[i] = tk.renew(t.Context(), 0) })
	}
	// Let one renewal start, then release it: everyone else either waited
	// for it or found the new generation.
	for tk.runs.Load() == 0 {
		waitABit()
	}
	close(tk.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || gens[i] != 1 {
			t.Errorf("caller %d: gen %d, err %v", i, gens[i], errs[i])
		}
	}
	if r := tk.runs.Load(); r != 1 {
		t.Errorf("%d renewals ran, want 1", r)
	}
}

func TestDo_FailureIsSharedWithWaiters(t *testing.T) {
	refused := errors.New("refused")
	tk := &token{gate: make(chan struct{}), fail: refused}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	started := make(chan struct{})
	wg.Go(func() { close(started); _, errs[0] = tk.renew(t.Context(), 0) })
	<-started
	for tk.runs.Load() == 0 {
		waitABit()
	}
	for i := 1; i < len(errs); i++ {
		wg.Go(func() { _, errs[i] = tk.renew(t.Context(), 0) })
	}
	waitForWaiters(&tk.flight, len(errs)-1)
	close(tk.gate)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, refused) {
			t.Errorf("caller %d: err %v, want the shared refusal", i, err)
		}
	}
	if r := tk.runs.Load(); r != 1 {
		t.Errorf("%d renewals ran, want 1", r)
	}
}

// A renewal aborted by its own caller's cancellation does not fail the
// waiters whose contexts are alive: one of them renews.
func TestDo_OthersCancellationIsRetried(t *testing.T) {
	tk := &token{gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { _, err := tk.renew(ctx, 0); first <- err }()
	for tk.runs.Load() == 0 {
		waitABit()
	}
	second := make(chan int, 1)
	go func() {
		g, err := tk.renew(t.Context(), 0)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		second <- g
	}()
	waitForWaiters(&tk.flight, 1)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	for tk.runs.Load() < 2 {
		waitABit()
	}
	close(tk.gate)
	if g := <-second; g != 1 {
		t.Errorf("waiter got gen %d", g)
	}
}

func TestDo_WaitEndsWithTheCallersContext(t *testing.T) {
	tk := &token{gate: make(chan struct{})}
	tk.flight.Op = `account "home": wait for login`
	go func() { _, _ = tk.renew(t.Context(), 0) }()
	for tk.runs.Load() == 0 {
		waitABit()
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := tk.renew(ctx, 0)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), `account "home": wait for login: `) {
		t.Errorf("err = %v", err)
	}
	close(tk.gate)
}

func TestDo_PanicReleasesWaitersAndPropagates(t *testing.T) {
	var f Flight
	gate := make(chan struct{})
	inFn := make(chan struct{})
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_ = f.Do(t.Context(), func() error { close(inFn); <-gate; panic("boom") })
	}()
	<-inFn
	var ran atomic.Bool
	waiter := make(chan error, 1)
	go func() { waiter <- f.Do(t.Context(), func() error { ran.Store(true); return nil }) }()
	waitForWaiters(&f, 1)
	close(gate)
	if r := <-recovered; r != "boom" {
		t.Errorf("recovered %v", r)
	}
	if err := <-waiter; err != nil || !ran.Load() {
		t.Errorf("waiter after a panic: err %v, ran its own renewal %v", err, ran.Load())
	}
}

func TestExclusive_RunsAfterAFailedRenewal(t *testing.T) {
	var f Flight
	gate := make(chan struct{})
	inFn := make(chan struct{})
	refused := errors.New("refused")
	auto := make(chan error, 1)
	go func() { auto <- f.Do(t.Context(), func() error { close(inFn); <-gate; return refused }) }()
	<-inFn
	explicit := make(chan error, 1)
	var ran atomic.Bool
	go func() { explicit <- f.Exclusive(t.Context(), func() error { ran.Store(true); return nil }) }()
	waitForWaiters(&f, 1)
	close(gate)
	if err := <-auto; !errors.Is(err, refused) {
		t.Errorf("automatic renewal: %v", err)
	}
	if err := <-explicit; err != nil || !ran.Load() {
		t.Errorf("explicit login: err %v, ran %v", err, ran.Load())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	block := make(chan struct{})
	inFn2 := make(chan struct{})
	go func() { _ = f.Do(t.Context(), func() error { close(inFn2); <-block; return nil }) }()
	<-inFn2
	if err := f.Exclusive(ctx, func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Exclusive with a cancelled context: %v", err)
	}
	close(block)
}

// Renew is the loop the sessions use: with a newer credential it renews
// nothing; a sticky error stops it; a failed renewal is returned.
func TestRenew(t *testing.T) {
	var f Flight
	cred, gen := "", uint64(0)
	runs := 0
	current := func() (string, uint64, error) { return cred, gen, nil }
	login := func() error { runs++; cred, gen = fmt.Sprint("t", gen+1), gen+1; return nil }
	if c, g, err := f.Renew(t.Context(), 0, current, login); err != nil || c != "t1" || g != 1 || runs != 1 {
		t.Errorf("no credential: %q %d %v, runs %d", c, g, err, runs)
	}
	if c, g, err := f.Renew(t.Context(), 0, current, login); err != nil || c != "t1" || g != 1 || runs != 1 {
		t.Errorf("newer credential held: %q %d %v, runs %d", c, g, err, runs)
	}
	if c, g, err := f.Renew(t.Context(), 1, current, login); err != nil || c != "t2" || g != 2 || runs != 2 {
		t.Errorf("stale credential: %q %d %v, runs %d", c, g, err, runs)
	}
	sticky := errors.New("sticky")
	if _, _, err := f.Renew(t.Context(), 2, func() (string, uint64, error) { return "", 0, sticky }, login); !errors.Is(err, sticky) || runs != 2 {
		t.Errorf("sticky: %v, runs %d", err, runs)
	}
	refused := errors.New("refused")
	if _, _, err := f.Renew(t.Context(), 2, current, func() error { return refused }); !errors.Is(err, refused) {
		t.Errorf("refused: %v", err)
	}
	// Newer by the time the renewal runs (another renewal finished in
	// between): renew is not called.
	calls := 0
	later := func() (string, uint64, error) {
		calls++
		if calls > 1 {
			return "t9", 9, nil
		}
		return "t2", 2, nil
	}
	if c, _, err := f.Renew(t.Context(), 2, later, func() error { t.Error("renewed needlessly"); return nil }); err != nil || c != "t9" {
		t.Errorf("newer later: %q %v", c, err)
	}
}
