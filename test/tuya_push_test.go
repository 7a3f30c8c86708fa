package test

import (
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock/clocktest"
)

// addTuyaPush adds the Tuya project of addTuya with push on, against the
// fake's message service.
func (h *harness) addTuyaPush() tuyaFleet {
	h.t.Helper()
	f := h.addTuya()
	s := h.tuyaSettings(len(h.cfg.Accounts) - 1)
	s.Push, s.PushURL = tuya.PushOn, f.srv.PushURL()
	return f
}

// waitPush waits for bridge/info to show the garden account's push
// connection connected (or not).
func (h *harness) waitPush(from int, connected bool) {
	h.t.Helper()
	want := `"push":{"connected":false`
	if connected {
		want = `"push":{"connected":true`
	}
	h.rec.waitMsg(from, base+"/bridge/info", contains(want))
}

// pushFrames sums kasa2mqtt_push_frames_total over protocols for result.
func (h *harness) pushFrames(result string) float64 {
	h.t.Helper()
	mfs, err := h.metrics.Registry().Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "kasa2mqtt_push_frames_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// pushRun is a daemon with a Kasa account and a Tuya project with push
// on, started, with the Tuya plug's first state published and the push
// connection up.
type pushRun struct {
	h      *harness
	f      tuyaFleet
	heater string // the Tuya plug's topic
	clk    *clocktest.Fake
	sim    *simulated
}

// startPush starts a pushRun with poll.interval 1 minute. With a
// reconcile interval, the daemon runs on a fake clock (sim drives it);
// otherwise on real time.
func startPush(t *testing.T, reconcile time.Duration) pushRun {
	t.Helper()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Minute
	var clk *clocktest.Fake
	if reconcile > 0 {
		clk = clocktest.New(time.Now())
		h.clock = clk
		h.cfg.Poll.ReconcileInterval = reconcile
	}
	r := pushRun{h: h, f: h.addTuyaPush(), clk: clk}
	h.start()
	r.heater = h.deviceTopic(0, r.f.plug)
	h.rec.waitMsg(0, base+"/"+r.heater, contains(`"state":"ON"`))
	h.waitPush(0, true)
	if clk != nil {
		r.sim = &simulated{t: t, clk: clk, idle: settle(t, clk), srv: r.f.srv, h: h}
	}
	return r
}

// A button press on the Tuya plug reaches MQTT within a second, without a
// single status call; bridge/info and health_check show the connection.
func TestE2E_TuyaPushButtonPressWithinASecond(t *testing.T) {
	t.Parallel()
	r := startPush(t, 0)
	h, f, heater := r.h, r.f, r.heater

	calls := f.srv.Calls(tuyaStatusPath)
	for _, on := range []bool{false, true, false} {
		mark := h.rec.mark()
		want := `"state":"OFF"`
		if on {
			want = `"state":"ON"`
		}
		pressed := time.Now()
		f.srv.SetSwitch(f.plug, "switch_1", on)
		m := h.rec.waitMsg(mark, base+"/"+heater, contains(want))
		if d := m.at.Sub(pressed); d > time.Second {
			t.Errorf("button press reached MQTT after %v, want within 1s", d)
		}
		if p, _ := stateField(m.payload, "power").(float64); on != (p > 0) {
			t.Errorf("pushed state %s: power does not follow the switch", m.payload)
		}
	}
	if n := f.srv.Calls(tuyaStatusPath) - calls; n != 0 {
		t.Errorf("%d status calls for pushed changes, want 0", n)
	}
	resp := h.request("health_check", `{}`)
	if !strings.Contains(string(resp.Data), `"push":{"connected":true,"since":"`) {
		t.Errorf("health_check does not show the push connection: %s", resp.Data)
	}
}

// Ten minutes of simulated quiet cost one status call per
// reconcile_interval; the keep-alive pings keep the one connection.
func TestE2E_TuyaPushQuietReconcilesOnly(t *testing.T) {
	t.Parallel()
	r := startPush(t, 2*time.Minute)
	f, sim := r.f, r.sim
	sim.run(time.Minute) // the read scheduled before push was connected, if any
	before := f.srv.Calls(tuyaStatusPath)
	sim.run(10 * time.Minute)
	if n := f.srv.Calls(tuyaStatusPath) - before; n != 5 {
		t.Errorf("%d status calls in 10 quiet minutes, want 5 (one per 2-minute reconcile_interval)", n)
	}
	if st := f.srv.PushStats(tuyaID); st.Connections != 1 || st.Pings < 20 {
		t.Errorf("message service saw %d connections and %d pings in 11 minutes, want 1 and one ping every 30s", st.Connections, st.Pings)
	}
}

// A dropped connection: polling resumes within one poll.interval, the
// push reconnects, and an add_ele report that was delivered again (its
// acknowledgement lost with the connection) is not counted twice.
func TestE2E_TuyaPushDropResumesPollingWithoutDuplicateEnergy(t *testing.T) {
	t.Parallel()
	r := startPush(t, 10*time.Minute)
	h, f, heater, clk := r.h, r.f, r.heater, r.clk
	r.sim.run(time.Minute)

	energy := func(p string) float64 { v, _ := stateField(p, "energy").(float64); return v }
	first := energy(h.rec.waitMsg(0, base+"/"+heater, nil).payload)
	f.srv.IgnoreAcks(tuyaID, 1) // the report's acknowledgement is lost
	f.srv.Tick(time.Hour)       // 1.2345 kWh at 1234.5 W
	m := h.rec.waitMsg(0, base+"/"+heater, func(p string) bool { return energy(p) > first+1 })
	total := energy(m.payload)

	mark := h.rec.mark()
	calls := f.srv.Calls(tuyaStatusPath)
	f.srv.DropPushConnection(tuyaID)
	h.waitPush(mark, false)
	// The next read is due within poll.interval of the drop.
	waitTimerAt(t, clk, clk.Now().Add(time.Minute))
	clk.Advance(time.Minute)
	eventually(t, "a status read within one poll interval of the drop", func() bool { return f.srv.Calls(tuyaStatusPath) > calls })
	eventually(t, "the push connection back", func() bool {
		clk.Advance(time.Second) // the reconnect's back-off runs on the clock
		return f.srv.PushStats(tuyaID).Connections == 2
	})
	h.waitPush(mark, true)
	eventually(t, "the report delivered again and acknowledged", func() bool {
		st := f.srv.PushStats(tuyaID)
		return st.Redelivered >= 1 && st.Pending == 0
	})
	f.srv.SetSwitch(f.plug, "switch_1", false) // a change after the redelivery
	last := h.rec.waitMsg(mark, base+"/"+heater, contains(`"state":"OFF"`))
	if got := energy(last.payload); got != total {
		t.Errorf("energy %v after the redelivery, want %v (counted once)", got, total)
	}
	if h.pushFrames("duplicate") < 1 {
		t.Error("the redelivered report was not counted as a duplicate")
	}
	if n := len(h.logs.FilterMessageSnippet("tuya push connection lost").All()); n != 1 {
		t.Errorf("%d lines for the lost connection, want 1", n)
	}
	if n := len(h.logs.FilterMessageSnippet("tuya push connection restored").All()); n != 1 {
		t.Errorf("%d lines for the restored connection, want 1", n)
	}
}

// Garbage frames are counted and logged once, publish nothing and crash
// nothing; a frame delivered twice is applied once.
func TestE2E_TuyaPushGarbageAndRedelivery(t *testing.T) {
	t.Parallel()
	r := startPush(t, 0)
	h, f, heater := r.h, r.f, r.heater

	mark := h.rec.mark()
	for range 3 {
		for _, g := range []tuyatest.Garbage{tuyatest.GarbageBadBase64, tuyatest.GarbageWrongKey, tuyatest.GarbageTruncatedGCM,
			tuyatest.GarbageUnknownProtocol, tuyatest.GarbageHuge} {
			f.srv.SendGarbage(tuyaID, g)
		}
	}
	eventually(t, "the garbage acknowledged", func() bool { return f.srv.PushStats(tuyaID).Pending == 0 })
	if n := h.rec.count(mark, base+"/"+heater); n != 0 {
		t.Errorf("%d state publications for garbage", n)
	}
	for result, want := range map[string]float64{"parse_error": 6, "decrypt_error": 6, "ignored": 3} {
		if got := h.pushFrames(result); got != want {
			t.Errorf("%s frames = %v, want %v", result, got, want)
		}
	}
	if n := len(h.logs.FilterMessageSnippet("unusable messages").All()); n != 2 {
		t.Errorf("%d log lines for unusable messages, want one per kind (2)", n)
	}

	f.srv.SetAckTimeout(tuyaID, 100*time.Millisecond)
	f.srv.IgnoreAcks(tuyaID, 1)
	f.srv.SetSwitch(f.plug, "switch_1", false)
	h.rec.waitMsg(mark, base+"/"+heater, contains(`"state":"OFF"`))
	eventually(t, "the change delivered again", func() bool {
		st := f.srv.PushStats(tuyaID)
		return st.Redelivered >= 1 && st.Pending == 0
	})
	if got := h.pushFrames("applied"); got != 1 {
		t.Errorf("applied frames = %v, want 1 for one change delivered twice", got)
	}
	if st := f.srv.PushStats(tuyaID); st.Connections != 1 {
		t.Errorf("%d connections: garbage cost the connection", st.Connections)
	}
}

// settle waits until the daemon's armed timers stop changing and returns
// their number: what is armed when every schedule waits.
func settle(t *testing.T, clk *clocktest.Fake) int {
	t.Helper()
	n, same := clk.Armed(), 0
	for deadline := time.Now().Add(waitFor); same < 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon's timers never settled")
		}
		if m := clk.Armed(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// simulated advances a fake clock in 10-second steps, waiting after each
// for the daemon to be idle again (idle timers armed) and for the message
// service to have answered the keep-alive pings due.
type simulated struct {
	t       *testing.T
	clk     *clocktest.Fake
	idle    int
	srv     *tuyatest.Server
	h       *harness
	elapsed time.Duration
}

func (s *simulated) run(d time.Duration) {
	s.t.Helper()
	pings := s.srv.PushStats(tuyaID).Pings
	for end := s.elapsed + d; s.elapsed < end; s.elapsed += 10 * time.Second {
		s.clk.Advance(10 * time.Second)
		if (s.elapsed+10*time.Second)%(30*time.Second) == 0 {
			pings++
			now := s.clk.Now()
			eventually(s.t, "the keep-alive ping answered", func() bool {
				return s.srv.PushStats(tuyaID).Pings >= pings && !s.h.metrics.PushLastReceived("tuya", "garden").Before(now)
			})
		}
		done := make(chan struct{})
		go func() { s.clk.WaitArmed(s.idle); close(done) }()
		select {
		case <-done:
		case <-time.After(waitFor):
			s.t.Fatalf("the daemon did not go idle after %v simulated", s.elapsed)
		}
	}
}

// waitTimerAt waits until a timer of clk is armed to fire at at.
func waitTimerAt(t *testing.T, clk *clocktest.Fake, at time.Time) {
	t.Helper()
	done := make(chan struct{})
	go func() { clk.WaitTimerAt(at); close(done) }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("no timer armed for %v", at)
	}
}
