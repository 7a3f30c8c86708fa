package kasa_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

// A hung cloud must not hold a call for longer than the request timeout,
// even when the caller's context has no deadline and the HTTP client has no
// Timeout of its own (as the fake's client has none).
func TestRequestTimeout_BoundsEveryCallWithoutCallerDeadline(t *testing.T) {
	e := newEnv(t)
	lamp := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	kettle := e.srv.AddPlug(testUser, "Kettle", "HS103(US)")
	const timeout = 300 * time.Millisecond
	p := e.provider(func(o *kasa.Options) { o.RequestTimeout = timeout })
	mustList(t, e, p)

	e.srv.Hang(1000)
	start := time.Now()
	states, err := p.ReadStates(context.Background(), []string{lamp, kettle})
	took := time.Since(start)
	e.track(err)
	if err != nil {
		t.Fatalf("ReadStates: %v, want per-device errors", err)
	}
	for _, st := range states {
		e.track(st.Err)
		if !errors.Is(st.Err, cloud.ErrUnavailable) || errors.Is(st.Err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want cloud.ErrUnavailable and no context error", st.DeviceID, st.Err)
		}
	}
	t.Logf("two hung state reads failed after %s (request timeout %s)", took.Round(time.Millisecond), timeout)
	if took > 5*timeout {
		t.Errorf("hung reads took %s with a request timeout of %s", took, timeout)
	}

	// A hung login fails in time as well, and the next one succeeds.
	p2 := e.provider(func(o *kasa.Options) { o.RequestTimeout = timeout; o.StateDir = t.TempDir() })
	start = time.Now()
	_, err = p2.ListDevices(context.Background())
	e.track(err)
	if !errors.Is(err, cloud.ErrUnavailable) || time.Since(start) > 5*timeout {
		t.Fatalf("hung login: %v after %s", err, time.Since(start))
	}
	e.srv.Hang(0)
	mustRead(t, e, p, lamp, kettle)
}

func TestRequestTimeout_ServerErrorsAreUnavailable(t *testing.T) {
	e := newEnv(t)
	lamp := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)
	e.srv.FailHTTP(1, http.StatusInternalServerError)
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnavailable)
	e.srv.FailHTTP(1, http.StatusServiceUnavailable)
	states := map[string]cloud.State{}
	got, err := p.ReadStates(ctxT(t), []string{lamp})
	e.track(err)
	for _, st := range got {
		states[st.DeviceID] = st
	}
	wantErrIs(t, states[lamp].Err, cloud.ErrUnavailable)
	// A 4xx is not an outage.
	e.srv.FailHTTP(1, http.StatusBadRequest)
	_, err = p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("HTTP 400: %v, want an error that is not cloud.ErrUnavailable", err)
	}
}
