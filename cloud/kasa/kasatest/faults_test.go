package kasatest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

func postCtx(ctx context.Context, s *kasatest.Server, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return s.Client().Do(req)
}

func TestServer_HangHoldsRequestsUntilTheClientGivesUp(t *testing.T) {
	s := newServer(t)
	s.Hang(2)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		resp, err := postCtx(ctx, s, `{"method":"getDeviceList"}`)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("request %d answered %d, want a hang", i, resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("request %d: %v, want the client's deadline", i, err)
		}
	}
	if n := s.Calls("getDeviceList"); n != 2 {
		t.Errorf("Calls = %d, want the 2 hung requests counted", n)
	}
	// The third request is answered again.
	if r := call(t, s, "getDeviceList", map[string]any{"token": "x"}); r.ErrorCode != -20652 {
		t.Errorf("after the hang: %+v", r)
	}
}

func TestServer_CloseReleasesHungRequests(t *testing.T) {
	s := kasatest.NewServer()
	s.Hang(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := postCtx(context.Background(), s, `{"method":"getDeviceList"}`)
		if err == nil {
			resp.Body.Close()
		}
	}()
	for s.Calls("getDeviceList") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	for _, ch := range []chan struct{}{done, closed} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not release the hung request")
		}
	}
}

func TestServer_LatencyKeepsConcurrentRequestsInFlightTogether(t *testing.T) {
	s := newServer(t)
	token, _ := login(t, s)
	const d = 200 * time.Millisecond
	s.SetLatency(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, err := postCtx(context.Background(), s, `{"method":"getDeviceList","params":{"token":"`+token+`"}}`)
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	// Five requests, served together: about d, not 5·d, and not less.
	if took < d || took > 4*d {
		t.Errorf("5 concurrent requests took %s with a latency of %s", took, d)
	}
	s.SetLatency(0)
	start = time.Now()
	call(t, s, "getDeviceList", map[string]any{"token": token})
	if time.Since(start) >= d {
		t.Error("latency still applied after SetLatency(0)")
	}
}

func TestServer_HoldNextAnswersTheRequestsTogether(t *testing.T) {
	s := newServer(t)
	token, _ := login(t, s)
	s.HoldNext(2)
	first := make(chan error, 1)
	go func() {
		resp, err := postCtx(context.Background(), s, `{"method":"getDeviceList","params":{"token":"`+token+`"}}`)
		if err == nil {
			resp.Body.Close()
		}
		first <- err
	}()
	select {
	case err := <-first:
		t.Fatalf("the first held request was answered alone (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	call(t, s, "getDeviceList", map[string]any{"token": token}) // the second: both go on
	if err := <-first; err != nil {
		t.Fatalf("the first held request: %v", err)
	}
	call(t, s, "getDeviceList", map[string]any{"token": token}) // the third is not held
}
