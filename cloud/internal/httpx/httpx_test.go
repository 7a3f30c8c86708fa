package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

const secret = "s3cr3t-token"

func TestDo_ReturnsBodyAndSendsHeaderAsIs(t *testing.T) {
	var gotBody, gotSign, gotCT string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotSign, gotCT = string(b), r.Header.Get("sign"), r.Header.Get("Content-Type")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c := NewCaller(srv.Client(), time.Minute)
	h := http.Header{"sign": {"ABC"}, "Content-Type": {"application/json"}}
	data, err := c.Do(t.Context(), Request{Method: "POST", URL: srv.URL + "/x", Header: h, Body: []byte(`{"a":1}`), Op: "test"})
	if err != nil || string(data) != `{"ok":true}` {
		t.Fatalf("Do = %q, %v", data, err)
	}
	if gotBody != `{"a":1}` || gotSign != "ABC" || gotCT != "application/json" {
		t.Errorf("server got body %q sign %q content type %q", gotBody, gotSign, gotCT)
	}
}

// A redirect is answered to the caller, never followed: neither with the
// shared client nor with a client of the caller's, which stays unchanged.
func TestDo_NeverFollowsRedirects(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	own := srv.Client()
	for name, c := range map[string]*Caller{"own client": NewCaller(own, time.Minute), "shared client": NewCaller(nil, time.Minute)} {
		_, err := c.Do(t.Context(), Request{Method: "POST", URL: srv.URL + "/login", Body: []byte(secret), Op: "login"})
		if err == nil || !strings.Contains(err.Error(), "307") {
			t.Errorf("%s: err = %v, want the 307 status", name, err)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect followed %d times", n)
	}
	if own.CheckRedirect != nil {
		t.Error("the caller's client was changed")
	}
	if Shared() != Shared() || Shared().CheckRedirect == nil {
		t.Error("Shared is not one client without redirects")
	}
}

func TestDo_ClassifiesStatuses(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c := NewCaller(srv.Client(), time.Minute)
	tests := []struct {
		status            int
		unavailable, rate bool
	}{
		{http.StatusInternalServerError, true, false},
		{http.StatusBadGateway, true, false},
		{http.StatusServiceUnavailable, true, false},
		{http.StatusTooManyRequests, false, true},
		{http.StatusNotFound, false, false},
		{http.StatusBadRequest, false, false},
	}
	for _, tc := range tests {
		status.Store(int32(tc.status))
		_, err := c.Do(t.Context(), Request{Method: "GET", URL: srv.URL, Op: "op"})
		if err == nil || !strings.HasPrefix(err.Error(), "op: http status") ||
			errors.Is(err, cloud.ErrUnavailable) != tc.unavailable || errors.Is(err, cloud.ErrRateLimited) != tc.rate {
			t.Errorf("status %d: err = %v", tc.status, err)
		}
	}
}

func TestDo_CapsTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 101))
	}))
	defer srv.Close()
	c := NewCaller(srv.Client(), time.Minute)
	c.maxBody = 100
	if _, err := c.Do(t.Context(), Request{Method: "GET", URL: srv.URL, Op: "op"}); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("err = %v", err)
	}
	c.maxBody = 101
	if data, err := c.Do(t.Context(), Request{Method: "GET", URL: srv.URL, Op: "op"}); err != nil || len(data) != 101 {
		t.Errorf("Do = %d bytes, %v", len(data), err)
	}
}

// A hung cloud ends each call after the Caller's timeout with
// cloud.ErrTimeout, which is no context error; the caller's own
// cancellation stays a context error and is no outage.
func TestDo_TimeoutAndCancellation(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	c := NewCaller(srv.Client(), 50*time.Millisecond)
	_, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL, Op: "op"})
	if !errors.Is(err, cloud.ErrTimeout) || !errors.Is(err, cloud.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung call: err = %v, want cloud.ErrTimeout and no context error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c = NewCaller(srv.Client(), time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, Request{Method: "GET", URL: srv.URL, Op: "op"})
		done <- err
	}()
	cancel()
	err = <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("cancelled call: err = %v, want context.Canceled and no outage", err)
	}
}

// Network and build errors name the call, never the URL with its token.
func TestDo_ErrorsHoldNoURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/v1.0/token/" + secret + "?token=" + secret
	srv.Close()
	c := NewCaller(nil, time.Minute)
	_, err := c.Do(t.Context(), Request{Method: "GET", URL: url, Op: "refresh"})
	if !errors.Is(err, cloud.ErrUnavailable) || strings.Contains(err.Error(), secret) || !strings.HasPrefix(err.Error(), "refresh: ") {
		t.Errorf("connection refused: err = %v", err)
	}
	_, err = c.Do(t.Context(), Request{Method: "bad method", URL: url, Op: "refresh"})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "build request") {
		t.Errorf("bad request: err = %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://u:p@host/path?token=abc&x=1#frag": "https://redacted@host/path?token=redacted&x=redacted",
		"http://127.0.0.1:8080/":                   "http://127.0.0.1:8080/",
		"://bad":                                   "<unparseable URL>",
		"http://[::1":                              "<unparseable URL>",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
