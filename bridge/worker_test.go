package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// applyProvider is a cloud.Provider whose Apply runs a script, one function
// per call (the last one repeats), and whose reads always succeed.
type applyProvider struct {
	mu        sync.Mutex
	script    []func(ctx context.Context) error
	calls     int
	deadlines []time.Duration // per call: how long its context had left
	clock     clock           // when set, starts records each call's time on it
	starts    []time.Time
}

func (p *applyProvider) Kind() string    { return "fake" }
func (p *applyProvider) Account() string { return "test" }
func (p *applyProvider) ListDevices(context.Context) ([]cloud.Device, error) {
	return nil, nil
}
func (p *applyProvider) ReadStates(_ context.Context, ids []string) ([]cloud.State, error) {
	states := make([]cloud.State, len(ids))
	for i, id := range ids {
		states[i] = cloud.State{DeviceID: id, Online: true}
	}
	return states, nil
}
func (p *applyProvider) Apply(ctx context.Context, _ cloud.Command) error {
	p.mu.Lock()
	f := p.script[min(p.calls, len(p.script)-1)]
	p.calls++
	if dl, ok := ctx.Deadline(); ok {
		p.deadlines = append(p.deadlines, time.Until(dl))
	}
	if p.clock != nil {
		p.starts = append(p.starts, p.clock.Now())
	}
	p.mu.Unlock()
	return f(ctx)
}

func (p *applyProvider) applyCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// instantClock is a fake clock on which every wait ends at once.
func instantClock() *fakeClock {
	c := newFakeClock()
	c.SetInstant(true)
	return c
}

// runCommand sends one relay command through a worker with request timeout
// rt, waiting on clk, and returns its result.
func runCommand(t *testing.T, p *applyProvider, rt time.Duration, clk clock) resultEvent {
	t.Helper()
	events := make(chan event, 1)
	w := startWorker(t.Context(), "fake/x", 1, "x", p, events, zap.NewNop(), rt, clk, nil)
	defer w.stop()
	cmd := cloud.Command{DeviceID: "x", Action: cloud.ActionSetRelay, On: true}
	if !w.enqueue(job{cmd: &cmd}) {
		t.Fatal("enqueue refused")
	}
	select {
	case ev := <-events:
		return ev.(resultEvent)
	case <-time.After(time.Minute):
		t.Fatal("no result")
	}
	return resultEvent{}
}

// hang is an attempt that gets no answer: like a provider's transport, it
// gives up after the request timeout rt on clk (or when ctx ends first).
func hang(clk clock, rt time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := clk.NewTimer(rt)
		defer t.Stop()
		select {
		case <-t.C():
			return fmt.Errorf("vendor: no answer within %s: %w", rt, cloud.ErrTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestCommandBudget_EveryAttemptMayTakeTheRequestTimeout(t *testing.T) {
	var delays time.Duration
	for _, d := range commandRetryDelays {
		delays += d
	}
	for _, rt := range []time.Duration{time.Second, 20 * time.Second, time.Minute} {
		want := time.Duration(1+len(commandRetryDelays))*rt + delays
		if got := commandBudget(rt); got != want {
			t.Errorf("commandBudget(%s) = %s, want %s", rt, got, want)
		}
	}
}

// A command's calls get the whole budget: a first attempt that hangs for
// the request timeout still leaves room for every retry. The request
// timeout here is longer than the old fixed 20 s budget.
func TestWorker_CommandContextHasRoomForEveryRetry(t *testing.T) {
	const rt = time.Minute
	p := &applyProvider{script: []func(context.Context) error{func(context.Context) error { return nil }}}
	if ev := runCommand(t, p, rt, realClock{}); ev.applyErr != nil {
		t.Fatalf("apply: %v", ev.applyErr)
	}
	if len(p.deadlines) != 1 {
		t.Fatalf("apply saw %d deadlines, want 1", len(p.deadlines))
	}
	if got, want := p.deadlines[0], commandBudget(rt); got < want-5*time.Second || got > want {
		t.Errorf("the command's context had %s left, want about %s (4 attempts of %s plus the waits)", got, want, rt)
	}
}

// A first attempt that got no answer within the request timeout is sent
// again, and the retry's answer is the command's.
func TestWorker_RetriesAnAttemptThatTimedOut(t *testing.T) {
	const rt = 300 * time.Millisecond
	clk := instantClock()
	p := &applyProvider{script: []func(context.Context) error{hang(clk, rt), func(context.Context) error { return nil }}}
	if ev := runCommand(t, p, rt, clk); ev.applyErr != nil {
		t.Fatalf("apply: %v", ev.applyErr)
	}
	if n := p.applyCalls(); n != 2 {
		t.Errorf("%d apply calls, want 2 (the timed-out attempt and its retry)", n)
	}
}

// Every attempt timing out: all retries are made, after their delays, and
// the last error is the command's. (On the real clock the last attempt may
// run into the end of the budget, which the budget's sum makes coincide
// with its own timeout: either error is the command's.)
func TestWorker_GivesUpAfterTheLastRetry(t *testing.T) {
	const rt = 100 * time.Millisecond
	clk := instantClock()
	p := &applyProvider{script: []func(context.Context) error{hang(clk, rt)}, clock: clk}
	ev := runCommand(t, p, rt, clk)
	if !errors.Is(ev.applyErr, cloud.ErrTimeout) && !errors.Is(ev.applyErr, context.DeadlineExceeded) {
		t.Errorf("apply error %v, want the last timeout", ev.applyErr)
	}
	if n, want := p.applyCalls(), 1+len(commandRetryDelays); n != want {
		t.Fatalf("%d apply calls, want %d", n, want)
	}
	// Each retry waits its delay (0.5, 1 and 2 s) after the attempt before
	// it gave up.
	for i, wait := range commandRetryDelays {
		if got := p.starts[i+1].Sub(p.starts[i]); got != rt+wait {
			t.Errorf("retry %d started %s after the attempt before, want %s + %s", i+1, got, rt, wait)
		}
	}
}

// Failures that say nothing about the cloud answering later are not
// retried: an answer that could not be understood, and a provider bug.
func TestWorker_DoesNotRetryWhatCannotPass(t *testing.T) {
	for name, f := range map[string]func(context.Context) error{
		"decode error": func(context.Context) error {
			return errors.New("vendor: malformed response: not a JSON object")
		},
		"panic": func(context.Context) error { panic("provider bug") },
	} {
		t.Run(name, func(t *testing.T) {
			p := &applyProvider{script: []func(context.Context) error{f}}
			if ev := runCommand(t, p, time.Second, instantClock()); ev.applyErr == nil {
				t.Error("the command succeeded")
			}
			if n := p.applyCalls(); n != 1 {
				t.Errorf("%d apply calls, want 1", n)
			}
		})
	}
}
