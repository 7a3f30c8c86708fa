package tuya_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

// A hung cloud must not hold a call for longer than the request timeout,
// even when the caller's context has no deadline and the HTTP client has no
// Timeout of its own (as the fake's client has none).
func TestRequestTimeout_BoundsEveryCallWithoutCallerDeadline(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", true)
	const timeout = 300 * time.Millisecond
	p := e.provider(func(o *tuya.Options) { o.RequestTimeout = timeout })
	mustList(t, e, p)

	e.srv.Hang(1000)
	start := time.Now()
	states, err := p.ReadStates(context.Background(), []string{id})
	took := time.Since(start)
	e.track(err)
	if err != nil {
		t.Fatalf("ReadStates: %v, want a per-device error", err)
	}
	e.track(states[0].Err)
	if !errors.Is(states[0].Err, cloud.ErrUnavailable) || errors.Is(states[0].Err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want cloud.ErrUnavailable and no context error", states[0].Err)
	}
	t.Logf("a hung status read failed after %s (request timeout %s)", took.Round(time.Millisecond), timeout)
	if took > 5*timeout {
		t.Errorf("hung read took %s with a request timeout of %s", took, timeout)
	}

	// A hung token grant fails in time as well.
	p2 := e.provider(func(o *tuya.Options) { o.RequestTimeout = timeout; o.StateDir = t.TempDir() })
	start = time.Now()
	_, err = p2.ListDevices(context.Background())
	e.track(err)
	if !errors.Is(err, cloud.ErrUnavailable) || time.Since(start) > 5*timeout {
		t.Fatalf("hung grant: %v after %s", err, time.Since(start))
	}
	e.srv.Hang(0)
	mustRead(t, e, p, id)
}

func TestRequestTimeout_ServerErrorsAreUnavailable(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", true)
	p := e.provider()
	mustList(t, e, p)
	e.srv.FailHTTP(1, http.StatusBadGateway)
	states, err := p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err != nil {
		t.Fatal(err)
	}
	e.track(states[0].Err)
	wantErrIs(t, states[0].Err, cloud.ErrUnavailable)
	e.srv.FailHTTP(1, http.StatusNotFound)
	states, err = p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err != nil {
		t.Fatal(err)
	}
	if states[0].Err == nil || errors.Is(states[0].Err, cloud.ErrUnavailable) {
		t.Errorf("HTTP 404: %v, want an error that is not cloud.ErrUnavailable", states[0].Err)
	}
}
