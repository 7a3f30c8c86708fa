package cloud

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestErrTimeout_IsUnavailableButNoContextError(t *testing.T) {
	if !errors.Is(ErrTimeout, ErrUnavailable) {
		t.Error("ErrTimeout does not wrap ErrUnavailable")
	}
	if errors.Is(ErrUnavailable, ErrTimeout) {
		t.Error("every ErrUnavailable is an ErrTimeout")
	}
	if errors.Is(ErrTimeout, context.DeadlineExceeded) || errors.Is(ErrTimeout, context.Canceled) {
		t.Error("ErrTimeout is a context error")
	}
}

func TestCallFailed_Classifies(t *testing.T) {
	bg := context.Background()
	expired, cancel := context.WithTimeout(bg, -time.Second)
	defer cancel()
	canceled, cancel2 := context.WithCancel(bg)
	cancel2()
	netTimeout := fmt.Errorf("dial tcp 127.0.0.1:1: %w", os.ErrDeadlineExceeded) // a net.Error with Timeout()
	refused := errors.New("connect: connection refused")

	// The call's own deadline expired, the caller's did not.
	err := CallFailed(bg, expired, 3*time.Second, context.DeadlineExceeded)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within 3s") {
		t.Errorf("own deadline: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("own deadline is a context error: %v", err)
	}
	// The transport's own timeout (dial, headers).
	err = CallFailed(bg, bg, 3*time.Second, netTimeout)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "dial tcp") {
		t.Errorf("transport timeout: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("transport timeout is a context error: %v", err)
	}
	// A network error: unavailable, not a timeout.
	err = CallFailed(bg, bg, 3*time.Second, refused)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) || !errors.Is(err, refused) {
		t.Errorf("network error: %v", err)
	}
	// The caller's own cancellation or deadline stays a context error.
	for _, ctx := range []context.Context{canceled, expired} {
		err = CallFailed(ctx, ctx, 3*time.Second, ctx.Err())
		if errors.Is(err, ErrUnavailable) || !errors.Is(err, ctx.Err()) {
			t.Errorf("caller's context (%v): %v", ctx.Err(), err)
		}
	}
}
