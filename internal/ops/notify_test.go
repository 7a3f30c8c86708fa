package ops

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// wait is the generous deadline for anything expected to happen.
const wait = 10 * time.Second

// fakeSystemd is a NOTIFY_SOCKET: a unixgram socket whose datagrams arrive
// on msgs, in order.
type fakeSystemd struct {
	path string
	msgs chan string
}

// newFakeSystemd listens in t.TempDir and points NOTIFY_SOCKET at it.
func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSystemd{path: path, msgs: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			f.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	t.Setenv("NOTIFY_SOCKET", path)
	return f
}

// next returns the next message, failing the test after wait.
func (f *fakeSystemd) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-f.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no notify message arrived")
		return ""
	}
}

// mark sends a marker datagram and returns the messages received before
// it. Datagrams on one socket arrive in order, so the marker separates
// what was sent before from what is sent after.
func (f *fakeSystemd) mark(t *testing.T, marker string) []string {
	t.Helper()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: f.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(marker)); err != nil {
		t.Fatal(err)
	}
	var before []string
	for {
		m := f.next(t)
		if m == marker {
			return before
		}
		before = append(before, m)
	}
}

func TestNotifier_ReadyStatusStopping(t *testing.T) {
	f := newFakeSystemd(t)
	n := NewNotifier(zaptest.NewLogger(t))
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	n.Ready()
	if m := f.next(t); m != "READY=1\nSTATUS=running" {
		t.Errorf("Ready sent %q", m)
	}
	n.Status("polling 3 accounts\nSTOPPING=1")
	if m := f.next(t); m != "STATUS=polling 3 accounts STOPPING=1" {
		t.Errorf("Status sent %q (a line break must not start a new assignment)", m)
	}
	n.Stopping()
	if m := f.next(t); !strings.HasPrefix(m, "STOPPING=1") {
		t.Errorf("Stopping sent %q", m)
	}
}

func TestNotifier_AbstractSocket(t *testing.T) {
	name := "@kasa2mqtt-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("no abstract unix sockets here: %v", err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	NewNotifier(zaptest.NewLogger(t)).Ready()
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 512)
	k, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); !strings.HasPrefix(got, "READY=1") {
		t.Errorf("got %q", got)
	}
}

func TestNotifier_Watchdog(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs after the other cleanups
	f := newFakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "200000") // pings every 100ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	var alive atomic.Bool
	alive.Store(true)
	withheld := make(chan struct{}, 1024) // one per alive() call that returned false
	aliveFn := func() bool {
		ok := alive.Load()
		if !ok {
			withheld <- struct{}{}
		}
		return ok
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		NewNotifier(zaptest.NewLogger(t)).RunWatchdog(ctx, aliveFn)
	}()

	// Pings arrive while alive.
	for range 3 {
		if m := f.next(t); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m)
		}
	}

	// Once alive() has said false, every earlier ping is in the socket;
	// after three more refusals, nothing may have followed.
	alive.Store(false)
	<-withheld
	f.mark(t, "MARK1")
	for range 3 {
		select {
		case <-withheld:
		case <-time.After(wait):
			t.Fatal("RunWatchdog stopped calling alive()")
		}
	}
	if got := f.mark(t, "MARK2"); len(got) != 0 {
		t.Errorf("messages sent while not alive: %q", got)
	}

	// Pings resume when alive again.
	alive.Store(true)
	if m := f.next(t); m != "WATCHDOG=1" {
		t.Fatalf("after recovery got %q, want WATCHDOG=1", m)
	}

	cancel()
	select {
	case <-returned:
	case <-time.After(wait):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}

func TestNotifier_WatchdogNotEnabled(t *testing.T) {
	newFakeSystemd(t)
	for name, env := range map[string][2]string{
		"no WATCHDOG_USEC":  {"", ""},
		"other process":     {"200000", strconv.Itoa(os.Getpid() + 1)},
		"bad WATCHDOG_USEC": {"soon", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", env[0])
			t.Setenv("WATCHDOG_PID", env[1])
			returnsAtOnce(t, func(ctx context.Context) {
				NewNotifier(zaptest.NewLogger(t)).RunWatchdog(ctx, nil)
			})
		})
	}
}

func TestNotifier_NoopWithoutNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n := NewNotifier(nil)
	if n.Enabled() {
		t.Error("Enabled() = true without NOTIFY_SOCKET")
	}
	n.Ready()
	n.Status("x")
	n.Stopping()
	returnsAtOnce(t, func(ctx context.Context) { n.RunWatchdog(ctx, nil) })
}

// A socket that went away costs a warning naming the message, not the
// daemon.
func TestNotifier_MissingSocketIsHarmless(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	core, logs := observer.New(zap.WarnLevel)
	n := NewNotifier(zap.New(core))
	n.Ready()
	n.Stopping()
	n.Reloading()
	got := logs.FilterMessage("systemd notify failed").All()
	if len(got) != 3 {
		t.Fatalf("%d warnings, want one per failed message", len(got))
	}
	for i, want := range []string{"READY=1", "STOPPING=1", "RELOADING=1"} {
		if s := got[i].ContextMap()["state"]; s != want {
			t.Errorf("warning %d names %v, want %s", i, s, want)
		}
	}
}

// returnsAtOnce fails unless run returns while its context is still live.
func returnsAtOnce(t *testing.T, run func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		cancel()
		<-done
		t.Fatal("RunWatchdog did not return at once")
	}
}
