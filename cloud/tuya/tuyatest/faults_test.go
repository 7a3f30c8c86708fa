package tuyatest_test

import (
	"sync"
	"testing"
	"time"
)

func TestServer_LatencyKeepsConcurrentRequestsInFlightTogether(t *testing.T) {
	s := newFake(t)
	const d = 200 * time.Millisecond
	s.SetLatency(d)
	get := func() {
		resp, err := s.Client().Get(s.URL() + "/v1.0/token")
		if err != nil {
			t.Errorf("request: %v", err)
			return
		}
		resp.Body.Close()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(get)
	}
	wg.Wait()
	took := time.Since(start)
	// Five requests, served together: about d, not 5·d, and not less.
	if took < d || took > 4*d {
		t.Errorf("5 concurrent requests took %s with a latency of %s", took, d)
	}
	if n := s.Calls("/v1.0/token"); n != 5 {
		t.Errorf("Calls = %d, want 5", n)
	}
	s.SetLatency(0)
	start = time.Now()
	get()
	if time.Since(start) >= d {
		t.Error("latency still applied after SetLatency(0)")
	}
}

func TestServer_HoldNextAnswersTheRequestsTogether(t *testing.T) {
	s := newFake(t)
	get := func() error {
		resp, err := s.Client().Get(s.URL() + "/v1.0/token")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	s.HoldNext(2)
	first := make(chan error, 1)
	go func() { first <- get() }()
	select {
	case err := <-first:
		t.Fatalf("the first held request was answered alone (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := get(); err != nil { // the second: both go on
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the first held request: %v", err)
	}
	if err := get(); err != nil { // the third is not held
		t.Fatal(err)
	}
	if n := s.Calls("/v1.0/token"); n != 3 {
		t.Errorf("Calls = %d, want 3", n)
	}
}
