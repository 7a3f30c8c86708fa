package test

import (
	"flag"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Reliability scenario 10: a soak. The daemon polls every second and
// serves a steady stream of commands while faults are injected at random:
// cloud HTTP 503s and error answers to device calls (at most two failing
// calls per cloudFaultSpacing), expired tokens, a device going offline and
// back, and a few broker restarts. The promise:
//
//   - no lost command: every command published while the bridge was
//     connected ends applied by the cloud, in publish order (see
//     matchApplied): a command is sent again after a failed call, up to
//     three times within 3.5 s, which outlasts the faults;
//   - everything is back within recoverBudget after each broker restart;
//   - no leak: the goroutine count and the heap in use (after GC) at the
//     end are those after the warm-up, give or take a small slack.
//
// It runs 15 s by default, 2 min when CI is set, or as long as -soak (or
// KASA2MQTT_TEST_SOAK) says; long runs need a -timeout to match:
//
//	go test ./test -run Soak -soak=30m -timeout=40m -v

// cloudFaultSpacing is the least time between two injected cloud faults:
// longer than a command's retries take together (0.5 + 1 + 2 s), so one
// command meets at most one fault (of at most two failing calls).
const cloudFaultSpacing = 4 * time.Second

var soakFor = flag.Duration("soak", 0, "how long TestReliability_Soak runs (default 15s, 2m when CI is set; also KASA2MQTT_TEST_SOAK)")

func soakDuration(t *testing.T) time.Duration {
	if *soakFor > 0 {
		return *soakFor
	}
	if v := os.Getenv("KASA2MQTT_TEST_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("KASA2MQTT_TEST_SOAK=%q: want a duration such as 30m", v)
		}
		return d
	}
	if os.Getenv("CI") != "" {
		return 2 * time.Minute
	}
	return 15 * time.Second
}

// forget drops the messages recorded so far but the newest of each topic,
// so that a long run's memory stays flat; marks taken before are void.
func (r *recorder) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var keep []msg
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if m := r.msgs[i]; !seen[m.topic] {
			seen[m.topic] = true
			keep = append(keep, m)
		}
	}
	slices.Reverse(keep)
	r.msgs = keep
}

// latest returns the newest payload on topic ("" when none).
func (r *recorder) latest(topic string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].topic == topic {
			return r.msgs[i].payload
		}
	}
	return ""
}

// footprint is what a leak would grow.
type footprint struct {
	goroutines int    // all of the test process
	ours       int    // those running kasa2mqtt code
	heap       uint64 // HeapInuse after GC
}

// measure forgets what the test itself keeps (recorded messages, log
// entries, the fake's request log), then samples the goroutines for a
// second (keeping the smallest counts: HTTP connections come and go) and
// the heap after GC.
func (h *harness) measure() footprint {
	h.rec.forget()
	h.logs.TakeAll()
	h.fake.ResetCalls()
	fp := footprint{goroutines: 1 << 30, ours: 1 << 30}
	for range 10 {
		fp.goroutines = min(fp.goroutines, runtime.NumGoroutine())
		ours, _ := ourGoroutines("")
		fp.ours = min(fp.ours, ours)
		time.Sleep(100 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fp.heap = ms.HeapInuse
	return fp
}

func TestReliability_Soak(t *testing.T) {
	if !alone(t) { // it measures the process's goroutines and heap
		return
	}
	d := soakDuration(t)
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d+time.Minute {
		t.Fatalf("a %v soak needs a -timeout of at least %v", d, d+2*time.Minute)
	}
	kinds := brokerKinds(t)
	kind := kinds[len(kinds)-1] // Mosquitto when installed: a broker others run
	h := newHarness(t, kind)
	h.cfg.Poll.DeviceListInterval = 20 * time.Second
	f := h.addFleet()
	h.start()
	all := append([]string{f.lamp, f.kettle, f.fridge, f.strip}, f.outlets...)
	topics := map[string]string{}
	for _, id := range all {
		topics[id] = h.deviceTopic(0, id)
	}
	targets := []string{f.lamp, f.kettle, f.outlets[0], f.outlets[5]}
	steady := []string{f.lamp, f.kettle, f.strip} // never flapped offline
	steady = append(steady, f.outlets...)
	h.waitBack(0, all, topics)
	// The test keeps every log entry in memory: log warnings only.
	if r := h.request("log_level", `{"level":"warn"}`); r.Status != "ok" {
		t.Fatalf("log_level: %+v", r)
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	book := newCommandBook()
	send := func() {
		id, on := targets[rng.IntN(len(targets))], rng.IntN(2) == 1
		book.add(id, on, true)
		h.rec.publish(base+"/"+topics[id]+"/set", onOff(on), false)
	}
	pause := func() { time.Sleep(50*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond)))) }
	// calm ends every fault and waits until every command was applied and
	// every device is available again.
	calm := func() {
		h.fake.FailHTTP(0, 0)
		h.fake.FailNext("passthrough", 0, 0)
		h.fake.SetOnline(f.fridge, true)
		book.waitApplied(t, h.fake, targets)
		for _, id := range all {
			topic := base + "/" + topics[id] + "/availability"
			eventually(t, topic+" online", func() bool { return strings.Contains(h.rec.latest(topic), `"online"`) })
		}
	}

	warm := max(d/8, 3*time.Second)
	for end := time.Now().Add(warm); time.Now().Before(end); pause() {
		send()
	}
	book.waitApplied(t, h.fake, targets)
	start := h.measure()
	sentAtStart := book.count()
	appliedAtStart := 0
	for _, id := range targets {
		appliedAtStart += len(h.fake.RelayHistory(id))
	}

	faults := map[string]int{}
	var lastCloudFault time.Time
	restarts := max(2, int(d/(40*time.Second)))
	every := (d - warm) / time.Duration(restarts+1)
	nextRestart := time.Now().Add(every)
	var worst time.Duration
	for end := time.Now().Add(d - warm); time.Now().Before(end); pause() {
		if time.Now().After(nextRestart) && faults["broker_restart"] < restarts {
			calm()
			h.broker.stop()
			time.Sleep(brokerDowntime)
			mk := h.rec.mark()
			h.broker.start()
			up := time.Now()
			back := h.waitBack(mk, steady, topics).Sub(up)
			worst = max(worst, back)
			faults["broker_restart"]++
			t.Logf("%s: broker restart %d: everything back after %v", kind, faults["broker_restart"], back.Round(time.Millisecond))
			if budget := stretched(recoverBudget); back > budget {
				t.Errorf("broker restart %d: back after %v, want at most %v", faults["broker_restart"], back.Round(time.Millisecond), budget)
			}
			nextRestart = time.Now().Add(every)
			continue
		}
		cloudFault := time.Since(lastCloudFault) >= cloudFaultSpacing
		switch r := rng.IntN(100); {
		case r < 70:
			send()
		case r < 78 && cloudFault:
			h.fake.FailHTTP(1, 503)
			faults["http_503"]++
			lastCloudFault = time.Now()
		case r < 88 && cloudFault:
			h.fake.FailNext("passthrough", 1+rng.IntN(2), -20002) // "Request timeout"
			faults["device_call_error"]++
			lastCloudFault = time.Now()
		case r < 88:
			send()
		case r < 94:
			h.fake.ExpireTokens()
			faults["token_expiry"]++
		default:
			online := rng.IntN(2) == 1
			h.fake.SetOnline(f.fridge, online)
			faults["fridge_online_flap"]++
		}
	}

	// The last command of each device, after the faults.
	calm()
	for _, id := range targets {
		on := rng.IntN(2) == 1
		book.add(id, on, true)
		h.rec.publish(base+"/"+topics[id]+"/set", onOff(on), false)
	}
	book.waitApplied(t, h.fake, targets)
	applied := 0
	for _, id := range targets {
		applied += len(h.fake.RelayHistory(id))
		if want, _ := book.lastCmd(id); h.fake.Relay(id) != want {
			t.Errorf("device %s ends %s, but the last command was %s", id, onOff(h.fake.Relay(id)), onOff(want))
		}
	}
	// Relay calls since the warm-up (measure reset the request log) that
	// did not apply: the ones that met a fault and were sent again.
	calls := 0
	for _, r := range h.fake.Requests() {
		if r.Method == "passthrough" && strings.Contains(r.RequestData, "set_relay_state") {
			calls++
		}
	}
	failedCalls := calls - (applied - appliedAtStart)
	end := h.measure()

	const mib = 1 << 20
	t.Logf("%s: soak of %v (seed %d): %d commands sent, %d applied by the cloud, all in order; %d relay calls met a fault and were retried",
		kind, d, seed, book.count(), applied, failedCalls)
	t.Logf("%s: faults injected: %v; slowest broker recovery %v", kind, faults, worst.Round(time.Millisecond))
	t.Logf("%s: goroutines %d -> %d (kasa2mqtt's own %d -> %d); heap in use %.1f -> %.1f MiB (%d commands between)",
		kind, start.goroutines, end.goroutines, start.ours, end.ours, float64(start.heap)/mib, float64(end.heap)/mib, book.count()-sentAtStart)
	if end.ours > start.ours {
		t.Errorf("kasa2mqtt goroutines grew from %d to %d", start.ours, end.ours)
	}
	if end.goroutines > start.goroutines+10 {
		t.Errorf("goroutines grew from %d to %d", start.goroutines, end.goroutines)
	}
	if end.heap > 2*start.heap && end.heap-start.heap > 4*mib {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", float64(start.heap)/mib, float64(end.heap)/mib)
	}
}
