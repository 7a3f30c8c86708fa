package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/internal/ops"
)

// healthServer serves /healthz and /readyz on 127.0.0.1 with the given
// status codes and records the paths asked for.
func healthServer(t *testing.T, healthz, readyz int) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var last atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(r.URL.Path)
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(healthz)
			if healthz == 200 {
				w.Write([]byte("ok\n"))
			} else {
				w.Write([]byte("unhealthy: stuck\n"))
			}
		case "/readyz":
			w.WriteHeader(readyz)
			if readyz == 200 {
				w.Write([]byte("ready\n"))
			} else {
				w.Write([]byte("not ready: mqtt: not connected\n"))
			}
		case "/blocks":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("test server on %s, want 127.0.0.1", srv.Listener.Addr())
	}
	return srv, &last
}

func TestHealth(t *testing.T) {
	t.Setenv(healthListenEnv, "")
	tests := []struct {
		name             string
		healthz, readyz  int
		args             []string // after -url <server>
		path             string   // appended to the server URL
		wantCode         int
		wantPath         string
		wantOut, wantErr string
	}{
		{"healthy", 200, 503, nil, "/healthz", exitOK, "/healthz", "ok\n", ""},
		{"unhealthy", 503, 200, nil, "/healthz", exitError, "/healthz", "", "503: unhealthy: stuck"},
		{"ready", 503, 200, []string{"-ready"}, "/healthz", exitOK, "/readyz", "ready\n", ""},
		{"not ready", 200, 503, []string{"-ready"}, "/healthz", exitError, "/readyz", "", "503: not ready: mqtt: not connected"},
		{"ready without path", 503, 200, []string{"-ready"}, "", exitOK, "/readyz", "ready\n", ""},
		{"not found", 200, 200, nil, "/nothing", exitError, "/nothing", "", "404: 404 page not found"},
		{"timeout", 200, 200, []string{"-timeout", "100ms"}, "/blocks", exitError, "/blocks", "", "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, last := healthServer(t, tt.healthz, tt.readyz)
			args := append([]string{"health", "-url", srv.URL + tt.path}, tt.args...)
			code, out, errOut := runCLI(t, "", args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tt.wantCode, out, errOut)
			}
			if got, _ := last.Load().(string); got != tt.wantPath {
				t.Errorf("asked for %q, want %q", got, tt.wantPath)
			}
			if out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			if tt.wantErr == "" && errOut != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q, want it to hold %q", errOut, tt.wantErr)
			}
		})
	}
}

func TestHealth_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, errOut := runCLI(t, "", "health", "-url", "http://"+addr+"/healthz")
	if code != exitError || !strings.Contains(errOut, "refused") {
		t.Errorf("exit %d stderr %q, want %d and a refused connection", code, errOut, exitError)
	}
}

func TestHealth_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"health", "-url", "ftp://127.0.0.1/healthz"},
		{"health", "-url", "127.0.0.1:9792"},
		{"health", "-timeout", "0s"},
		{"health", "extra"},
	} {
		// Never 2: Docker reserves that exit code of a HEALTHCHECK.
		if code, _, errOut := runCLI(t, "", args...); code != exitError || errOut == "" {
			t.Errorf("%q: exit %d (stderr %q), want %d with a reason", args, code, errOut, exitError)
		}
	}
}

// KASA2MQTT_HTTP_LISTEN set but empty turns the endpoint off: nothing to
// check, so the container must not turn unhealthy for it.
func TestHealth_EndpointOff(t *testing.T) {
	t.Setenv("KASA2MQTT_HTTP_LISTEN", "")
	code, out, _ := runCLI(t, "", "health")
	if code != exitOK || !strings.Contains(out, "endpoint is off") {
		t.Errorf("exit %d, stdout %q; want 0 and a note that the endpoint is off", code, out)
	}
	// An explicit -url is still checked.
	if code, _, _ := runCLI(t, "", "health", "-url", "http://127.0.0.1:1/healthz"); code != exitError {
		t.Errorf("-url with the endpoint off: exit %d, want %d", code, exitError)
	}
}

// The default URL comes from KASA2MQTT_HTTP_LISTEN; a wildcard listen
// address is checked on 127.0.0.1, here against the real ops server.
func TestHealth_DefaultURLFromEnvironment(t *testing.T) {
	var ready atomic.Bool
	s := ops.NewServer(ops.ServerOptions{
		Listen: "127.0.0.1:0",
		Ready: func() error {
			if !ready.Load() {
				return errors.New("no broker connection yet")
			}
			return nil
		},
	})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	_, port, _ := net.SplitHostPort(s.Addr())
	t.Setenv(healthListenEnv, "0.0.0.0:"+port)

	if code, out, errOut := runCLI(t, "", "health"); code != exitOK || out != "ok\n" {
		t.Errorf("health: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "health", "-ready"); code != exitError ||
		!strings.Contains(errOut, "503: not ready: no broker connection yet") {
		t.Errorf("health -ready: exit %d stderr %q", code, errOut)
	}
	ready.Store(true)
	if code, out, errOut := runCLI(t, "", "health", "-ready"); code != exitOK || out != "ready\n" {
		t.Errorf("health -ready: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestHealthURL(t *testing.T) {
	tests := map[string]string{
		"":                  "http://127.0.0.1:9792/healthz",
		"127.0.0.1:9792":    "http://127.0.0.1:9792/healthz",
		":9792":             "http://127.0.0.1:9792/healthz",
		"0.0.0.0:9100":      "http://127.0.0.1:9100/healthz",
		"[::]:9792":         "http://127.0.0.1:9792/healthz",
		"[::1]:9792":        "http://[::1]:9792/healthz",
		"localhost:9792":    "http://localhost:9792/healthz",
		"192.168.1.5:9792":  "http://192.168.1.5:9792/healthz",
		" 127.0.0.1:8081 ":  "http://127.0.0.1:8081/healthz",
		"kasa2mqtt.lan:80":  "http://kasa2mqtt.lan:80/healthz",
		"no-port-localhost": "http://no-port-localhost/healthz",
	}
	for in, want := range tests {
		if got := healthURL(in); got != want {
			t.Errorf("healthURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealth_ListedInUsage(t *testing.T) {
	_, out, _ := runCLI(t, "", "help")
	if !strings.Contains(out, "health ") || !strings.Contains(out, "Docker HEALTHCHECK") {
		t.Errorf("usage lacks the health command:\n%s", out)
	}
}
