package test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// Waits on what the daemon does, for tests that must let it take its
// chances to do something (again) before they check that it did not: a
// count of polls, of failed account-wide calls, a log line.

// waitLog waits for a log entry at level >= lvl containing every part.
func (h *harness) waitLog(what string, lvl zapcore.Level, parts ...string) {
	h.t.Helper()
	eventually(h.t, what, func() bool { return h.logged(lvl, parts...) })
}

// failedCalls returns how many account-wide calls (lists, polls) of
// account have failed in this run: the bridge logs each, the first of a
// kind as "cloud account error; …", repeats as "cloud account still
// failing".
func (h *harness) failedCalls(account string) int {
	n := 0
	for _, e := range h.logs.All() {
		if (e.Message == accountErrorMessage || e.Message == "cloud account still failing") && e.ContextMap()["account"] == account {
			n++
		}
	}
	return n
}

// accountErrorMessage is the bridge's log line for a new account error.
const accountErrorMessage = "cloud account error; devices will show unavailable until it recovers"

// waitFailedCalls waits until failedCalls(account) >= n: the daemon took
// that many chances to call the cloud for account, and failed.
func (h *harness) waitFailedCalls(account string, n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d failed calls for account %s", n, account), func() bool {
		return h.failedCalls(account) >= n
	})
}

// polls returns how many state reads (polls, failed ones included) of
// account the running daemon has finished, from its metrics.
func (h *harness) polls(account string) int {
	h.t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		h.t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "kasa2mqtt_poll_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "account" && l.GetValue() == account {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

// waitPolls waits until the daemon has finished n more polls of account
// than when it was called; the first of them may have been under way.
func (h *harness) waitPolls(account string, n int) {
	h.t.Helper()
	want := h.polls(account) + n
	eventually(h.t, fmt.Sprintf("%d more polls of account %s", n, account), func() bool { return h.polls(account) >= want })
}

// refreshed asks for a refresh of device id over MQTT and returns the
// answer. The device's worker does the refresh after every command queued
// for it before (retries included): when the answer is in, those are done.
func (h *harness) refreshed(id string) response {
	h.t.Helper()
	r := h.request("device/refresh", `{"id":"`+id+`"}`)
	if r.Status == "" {
		h.t.Fatalf("device/refresh of %s: no status in %+v", id, r)
	}
	return r
}

// birthMessage is what the bridge logs when Home Assistant's birth
// schedules a replay (after h.birthWait()).
const birthMessage = "home assistant is online; replaying discovery and state"

// birthsSettled waits until the bridge has logged n Home Assistant births
// and every replay they can have started is out: h.birthWait() after the last
// of them, then a bridge request answered (the run loop has gone round;
// the outbox keeps the order, so the replay arrived before the answer).
func (h *harness) birthsSettled(n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d Home Assistant births logged", n), func() bool {
		return h.logs.FilterMessage(birthMessage).Len() >= n
	})
	var last time.Time
	for _, e := range h.logs.FilterMessage(birthMessage).All() {
		if e.Time.After(last) {
			last = e.Time
		}
	}
	time.Sleep(time.Until(last.Add(h.birthWait())))
	if r := h.request("health_check", `{}`); r.Status != "ok" {
		h.t.Fatalf("health_check: %+v", r)
	}
}

// stretched returns d, a bound on how long the daemon may take for
// something, for the machine as loaded as it is now: d times the 1-minute
// load average per CPU when that is above 1. The bounds are promises for a
// machine with a core to spare; on 2 cores running several suites under
// -race (load 15 and more), a broker restart took 8 s to recover from
// where 1 s is usual, which says nothing about the daemon.
func stretched(d time.Duration) time.Duration {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return d
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return d
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return d
	}
	return time.Duration(float64(d) * max(1, load/float64(runtime.NumCPU())))
}
