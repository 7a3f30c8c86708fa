package tuya_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

// pushSink records what a provider pushes.
type pushSink struct {
	mu       sync.Mutex
	updates  []cloud.Update
	statuses []cloud.PushStatus
	wake     chan struct{}
}

func newPushSink() *pushSink { return &pushSink{wake: make(chan struct{}, 1)} }

func (s *pushSink) Update(_ context.Context, u cloud.Update) error {
	s.mu.Lock()
	s.updates = append(s.updates, u)
	s.mu.Unlock()
	s.notify()
	return nil
}

func (s *pushSink) Status(st cloud.PushStatus) {
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
	s.notify()
}

func (s *pushSink) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// mark returns the number of updates so far, to look only at newer ones.
func (s *pushSink) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// since returns the updates from index from on.
func (s *pushSink) since(from int) []cloud.Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]cloud.Update(nil), s.updates[from:]...)
}

func (s *pushSink) status() (cloud.PushStatus, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return cloud.PushStatus{}, 0
	}
	return s.statuses[len(s.statuses)-1], len(s.statuses)
}

// waitFor waits (at most 10 s) until cond holds.
func (s *pushSink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-s.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *pushSink) waitConnected(t *testing.T, connected bool) {
	t.Helper()
	s.waitFor(t, fmt.Sprintf("push connected = %v", connected), func() bool {
		st, n := s.status()
		return n > 0 && st.Connected == connected
	})
}

// waitState waits for a state update of id that satisfies ok and returns
// it.
func (s *pushSink) waitState(t *testing.T, from int, id string, ok func(cloud.State) bool) cloud.State {
	t.Helper()
	var found cloud.State
	s.waitFor(t, "a pushed state of "+id, func() bool {
		for _, u := range s.since(from) {
			if u.Kind == cloud.UpdateState && u.DeviceID == id && (ok == nil || ok(u.State)) {
				found = u.State
				return true
			}
		}
		return false
	})
	return found
}

// pushObserver counts calls and pushed frames.
type pushObserver struct {
	mu         sync.Mutex
	frames     map[string]int // "protocol/result"
	reconnects int
	received   int
}

func newPushObserver() *pushObserver { return &pushObserver{frames: map[string]int{}} }

func (o *pushObserver) CloudCall(string, string, string, error) {}
func (o *pushObserver) Login(string, string, string)            {}
func (o *pushObserver) PushFrame(_, _, protocol, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.frames[protocol+"/"+result]++
}
func (o *pushObserver) PushReconnect(string, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reconnects++
}
func (o *pushObserver) PushReceived(string, string, time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.received++
}

// count returns the frames counted with result (any protocol).
func (o *pushObserver) count(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k, v := range o.frames {
		if strings.HasSuffix(k, "/"+result) {
			n += v
		}
	}
	return n
}

func (o *pushObserver) frame(protocol, result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.frames[protocol+"/"+result]
}

// withPush configures the provider for the fake's message service with a
// short keep-alive.
func withPush(e *env, mode string) func(*tuya.Options) {
	return func(o *tuya.Options) {
		o.Push = mode
		o.PushURL = e.srv.PushURL()
		o.PushKeepAlive = 100 * time.Millisecond
	}
}

// runPush runs p.Push until the test ends.
func runPush(t *testing.T, p *tuya.Provider) *pushSink {
	t.Helper()
	sink := newPushSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Push(ctx, sink)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Push did not return within 10s of its context ending")
		}
	})
	return sink
}
