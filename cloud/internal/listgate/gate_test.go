package listgate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Many callers at once cause one listing; later callers none.
func TestEnsure_ListsOnceForConcurrentCallers(t *testing.T) {
	var g Gate
	var calls atomic.Int32
	list := func(context.Context) error {
		calls.Add(1)
		g.Listed()
		return nil
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := g.Ensure(t.Context(), list); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := g.Ensure(t.Context(), list); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d listings, want 1", n)
	}
}

// A failed listing is returned and tried again by the next caller; a
// listing taken elsewhere (ListDevices called directly) opens the gate.
func TestEnsure_RetriesAfterFailureAndHonoursListed(t *testing.T) {
	var g Gate
	boom := errors.New("cloud down")
	if err := g.Ensure(t.Context(), func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("first Ensure = %v, want the listing's error", err)
	}
	called := false
	g.Listed()
	if err := g.Ensure(t.Context(), func(context.Context) error { called = true; return nil }); err != nil || called {
		t.Errorf("after Listed: err %v, listed again %v; want nil, false", err, called)
	}
}

// A cancelled context is not spent on a listing.
func TestEnsure_CancelledContext(t *testing.T) {
	var g Gate
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if err := g.Ensure(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("err %v, listed %v; want context.Canceled without a listing", err, called)
	}
}
