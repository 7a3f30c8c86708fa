// Package test holds the end-to-end suite: the real daemon (daemon.Main, in
// process) against a real MQTT broker (embedded mochi, and Mosquitto when
// installed) and the fake Kasa and Tuya clouds over loopback HTTP.
//
// # Every test runs in parallel
//
// One after the other the suite would take many minutes; in parallel it
// takes about as long as its longest test (the soak, with CI set). So:
//
//   - Start every test with t.Parallel(), or with `if !alone(t) { return }`
//     (below). forEachBroker makes its subtests parallel itself.
//     TestEveryTestIsParallel fails a test that does neither.
//   - Own everything: newHarness gives the test its fake clouds, a broker
//     on a free port (freeAddr; never a fixed port), a recorder, a state
//     directory and a daemon of its own. Package-level variables are
//     constants or safe for concurrent use (atomic counters); no test
//     changes one.
//   - Wait for what you expect to see (rec.waitMsg, eventually,
//     h.waitLog, a fake's call counter), within waitFor, never for a fixed
//     time. "Nothing more happens" is checked after something that proves
//     the chance for it has passed (harness_wait_test.go): the next polls
//     (h.waitPolls), a refresh queued behind a device's commands
//     (h.refreshed), failed calls to the cloud (h.waitFailedCalls), Home
//     Assistant births (h.birthsSettled), rec.sync for retained messages.
//     A command sent before the bridge listed its device is dropped: wait
//     for the device's state first.
//   - Leaks are checked per test: newHarness labels the test's goroutine,
//     and everything started from it carries the label
//     (harness_goroutines_test.go).
//   - Tests that measure the whole process (heap, goroutine counts) or
//     change its environment run alone in a child process (alone), still
//     in parallel with the others.
//   - Under CPU load (2 cores, -race, other suites) things take longer:
//     a bound on how long the daemon may take goes through stretched (it
//     grows with the load average), premises that need calls in flight
//     together use the fakes' HoldNext, not a latency; a test that fails
//     only under load has a bug (in the test or the daemon) to find, not a
//     retry.
//
// How many run at once: TestMain raises -test.parallel (default
// GOMAXPROCS, 2 here) to 64 unless it is given, so that every test starts
// at once, the long ones that run alone in a child process first of all;
// newHarness then lets at most daemonSlots daemons (6;
// KASA2MQTT_TEST_DAEMONS to change) run in this process at a time: more
// would starve each other of CPU and fail their time bounds (a broker
// restart must be recovered from within 5 s).
package test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
	"github.com/kasa2mqtt/kasa2mqtt/internal/metrics"
)

const (
	user     = "owner@example.com"
	password = `p"a\s/s{w}ö密`
	base     = "kasa2mqtt"
)

// waitFor bounds every wait for something a test expects to happen.
const waitFor = 15 * time.Second

// defaultParallel is -test.parallel unless it is given: every test.
const defaultParallel = 64

func TestMain(m *testing.M) {
	if addr := os.Getenv(brokerModeEnv); addr != "" {
		runBrokerMode(addr)
		return
	}
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(defaultParallel))
	}
	os.Exit(checkNoGoroutinesLeft(m.Run()))
}

// ---- the daemon ---------------------------------------------------------------

// harness is one fake cloud, one broker and (when started) one daemon.
type harness struct {
	t        *testing.T
	fake     *kasatest.Server
	broker   *testBroker
	rec      *recorder
	cfg      config.Config
	logs     *observer.ObservedLogs
	cancel   context.CancelFunc
	done     chan error
	started  time.Time
	stateDir string
	// metrics is the daemon's metrics (set by start).
	metrics *metrics.Metrics
	// httpAddr receives the operations endpoint's address when
	// cfg.HTTP.Listen is set.
	httpAddr chan string
	// clock, when set before start, drives the daemon's schedules (a
	// clocktest.Fake); nil: real time.
	clock clock.Clock
	// birthDelay is the daemon's wait after Home Assistant's birth (0: the
	// constant birthDelay); set it before start.
	birthDelay time.Duration
}

// birthDelay is the daemon's wait after Home Assistant's birth message in
// the harness unless a test sets harness.birthDelay (random 1–5 s by
// default).
const birthDelay = 200 * time.Millisecond

// birthWait is the daemon's wait after Home Assistant's birth.
func (h *harness) birthWait() time.Duration { return cmp.Or(h.birthDelay, birthDelay) }

// newHarness starts the fake cloud and a broker; the daemon is configured
// (poll every 1s, list every hour) but not started.
func newHarness(t *testing.T, kind string) *harness {
	t.Helper()
	checkGoroutines(t)
	takeDaemonSlot(t)
	h := &harness{t: t, stateDir: t.TempDir()}
	checkSecrets(h) // test/secrets_test.go: no secret in logs, MQTT or state files
	h.fake = kasatest.NewServer()
	t.Cleanup(h.fake.Close)
	h.fake.AddAccount(user, password)
	h.broker = startBroker(t, kind)
	h.rec = newRecorder(t, h.broker.url())
	h.cfg = h.testConfig()
	h.cfg.MQTT.Server = h.broker.url()
	return h
}

// testConfig is the daemon configuration of the tests: the fake cloud's
// account, poll every 1s, list every hour, debug logs, h's state
// directory, and the embedded broker (set MQTT.Server for another).
func (h *harness) testConfig() config.Config {
	cfg := config.Default()
	cfg.MQTT.ClientID = "kasa2mqtt-test"
	cfg.Accounts = []config.Account{{Provider: "kasa", Name: "home", Settings: &kasa.Config{Username: user, Password: password, URL: h.fake.URL()}}}
	cfg.Poll.Interval = time.Second
	cfg.Poll.DeviceListInterval = time.Hour
	cfg.StateDir = h.stateDir
	cfg.Log.Level = "debug"
	return cfg
}

// kasaSettings returns the settings of accounts[i], a kasa account, to
// change before start.
func (h *harness) kasaSettings(i int) *kasa.Config { return settingsOf[*kasa.Config](h, i) }

// tuyaSettings returns the settings of accounts[i], a tuya account, to
// change before start.
func (h *harness) tuyaSettings(i int) *tuya.Config { return settingsOf[*tuya.Config](h, i) }

func settingsOf[T any](h *harness, i int) T {
	h.t.Helper()
	s, ok := h.cfg.Accounts[i].Settings.(T)
	if !ok {
		h.t.Fatalf("accounts[%d] has settings %T, not %T", i, h.cfg.Accounts[i].Settings, s)
	}
	return s
}

// start runs the daemon until the test ends (or stop is called).
func (h *harness) start() {
	h.t.Helper()
	obsCore, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	noteLogs(h, logs)
	levels, err := logging.NewLevels("debug")
	if err != nil {
		h.t.Fatal(err)
	}
	log := zap.New(levels.Core(zapcore.NewTee(zaptest.NewLogger(h.t).Core(), obsCore)))
	h.cfg.FillAccountDefaults() // as Run does, before the test may read the settings again
	cfg := h.cfg
	h.metrics = metrics.New()
	h.httpAddr = make(chan string, 1)
	m := &daemon.Main{Config: &cfg, Logger: log, Levels: levels, HTTPClient: h.fake.Client(),
		BirthDelay:    h.birthWait,
		Metrics:       h.metrics,
		Clock:         h.clock,
		OnHTTPStarted: func(addr string) { h.httpAddr <- addr }}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	h.started = time.Now()
	go func() { h.done <- m.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels the daemon and waits for Run to return.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon returned %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Errorf("daemon did not stop within 15s")
	}
}

// logged reports whether a log entry at level >= lvl contains every part
// (in its message or fields).
func (h *harness) logged(lvl zapcore.Level, parts ...string) bool {
	for _, e := range h.logs.All() {
		if e.Level < lvl {
			continue
		}
		line := entryText(e)
		okAll := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				okAll = false
				break
			}
		}
		if okAll {
			return true
		}
	}
	return false
}

func entryText(e observer.LoggedEntry) string {
	var b strings.Builder
	b.WriteString(e.Message)
	for k, v := range e.ContextMap() {
		fmt.Fprintf(&b, " %s=%v", k, v)
	}
	return b.String()
}

// eventually polls cond every 50 ms for up to waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	pollUntil(t, waitFor, 50*time.Millisecond, what, cond)
}

// pollUntil checks cond every period until it holds, failing the test
// after limit.
func pollUntil(t *testing.T, limit, period time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting: %s", limit, what)
		}
		time.Sleep(period)
	}
}

// daemonSlots limits how many tests of this process run a daemon at once
// (see the package comment).
var daemonSlots = make(chan struct{}, daemonSlotCount())

func daemonSlotCount() int {
	if n, err := strconv.Atoi(os.Getenv("KASA2MQTT_TEST_DAEMONS")); err == nil && n > 0 {
		return n
	}
	return 6
}

// takeDaemonSlot waits for one of the daemonSlots and gives it back when
// t has ended (after its other cleanups: the daemon stopped).
func takeDaemonSlot(t *testing.T) {
	daemonSlots <- struct{}{}
	t.Cleanup(func() { <-daemonSlots })
}
