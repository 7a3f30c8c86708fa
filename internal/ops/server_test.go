package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// startServer starts a Server on 127.0.0.1:0 and closes it at cleanup.
func startServer(t *testing.T, opts ServerOptions) *Server {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	opts.Logger = zaptest.NewLogger(t)
	s := NewServer(opts)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func get(t *testing.T, s *Server, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServer_Endpoints(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	var readyErr atomic.Pointer[error]
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "kasa2mqtt_mqtt_connected 1\n")
	})
	s := startServer(t, ServerOptions{
		Alive: alive.Load,
		Ready: func() error {
			if p := readyErr.Load(); p != nil {
				return *p
			}
			return nil
		},
		Metrics: metrics,
	})
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a real port", s.Addr())
	}

	check := func(name, method, path string, wantCode int, wantBody string) {
		t.Helper()
		code, body := get(t, s, method, path)
		if code != wantCode || (wantBody != "" && body != wantBody) {
			t.Errorf("%s: %s %s = %d %q, want %d %q", name, method, path, code, body, wantCode, wantBody)
		}
	}
	check("healthy", "GET", "/healthz", 200, "ok\n")
	check("ready", "GET", "/readyz", 200, "ready\n")
	check("metrics", "GET", "/metrics", 200, "kasa2mqtt_mqtt_connected 1\n")
	check("head", "HEAD", "/healthz", 200, "")
	check("root", "GET", "/", 404, "")
	check("unknown", "GET", "/debug/pprof/", 404, "")
	check("subpath", "GET", "/healthz/x", 404, "")
	check("post", "POST", "/healthz", 405, "")

	alive.Store(false)
	err := errors.New("mqtt: not connected to\nbroker")
	readyErr.Store(&err)
	check("unhealthy", "GET", "/healthz", 503, "unhealthy: the daemon's main loop is not making progress\n")
	check("not ready", "GET", "/readyz", 503, "not ready: mqtt: not connected to broker\n")
}

// Detail's notes follow a ready answer on the same line; a not-ready
// answer gives its reason only.
func TestServer_ReadyDetail(t *testing.T) {
	var notes atomic.Pointer[[]string]
	var readyErr atomic.Pointer[error]
	s := startServer(t, ServerOptions{
		Ready: func() error {
			if p := readyErr.Load(); p != nil {
				return *p
			}
			return nil
		},
		Detail: func() []string {
			if p := notes.Load(); p != nil {
				return *p
			}
			return nil
		},
	})
	if code, body := get(t, s, "GET", "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("without notes: %d %q", code, body)
	}
	n := []string{"account home: login needed; run `kasa2mqtt login -account home`", "account b: wrong\npassword"}
	notes.Store(&n)
	want := "ready; account home: login needed; run `kasa2mqtt login -account home`; account b: wrong password\n"
	if code, body := get(t, s, "GET", "/readyz"); code != 200 || body != want {
		t.Errorf("with notes: %d %q, want %q", code, body, want)
	}
	err := errors.New("not connected")
	readyErr.Store(&err)
	if code, body := get(t, s, "GET", "/readyz"); code != 503 || body != "not ready: not connected\n" {
		t.Errorf("not ready: %d %q", code, body)
	}
}

func TestServer_Defaults(t *testing.T) {
	if got := NewServer(ServerOptions{}).opts.Listen; got != DefaultListen {
		t.Errorf("default Listen = %q, want %q", got, DefaultListen)
	}
	s := startServer(t, ServerOptions{}) // nil Alive, Ready, Metrics
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 404} {
		if code, body := get(t, s, "GET", path); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
}

func TestServer_CloseStopsServing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	s := NewServer(ServerOptions{Listen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)})
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	s = NewServer(ServerOptions{Listen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("before Close: %s", resp.Status)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := client.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestServer_StopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := NewServer(ServerOptions{Listen: "127.0.0.1:0", Logger: zaptest.NewLogger(t)})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	cancel()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its context was canceled")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after its context was canceled")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

func TestServer_CloseCutsShortAHangingRequest(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	s := NewServer(ServerOptions{
		Listen: "127.0.0.1:0",
		Logger: zaptest.NewLogger(t),
		Ready: func() error {
			close(entered)
			<-release
			return nil
		},
	})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want the deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after its context expired")
	}
}

func TestServer_StartFailsOnBusyPort(t *testing.T) {
	a := startServer(t, ServerOptions{})
	b := NewServer(ServerOptions{Listen: a.Addr()})
	if err := b.Start(t.Context()); err == nil {
		b.Close(context.Background())
		t.Fatal("second server on the same port started")
	}
}
