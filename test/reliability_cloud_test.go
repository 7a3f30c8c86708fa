package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Reliability against the clouds: outages (HTTP 500s, then requests that
// hang), token storms and wrong credentials. The daemon runs against both
// fakes at once (a Kasa and a Tuya account), so every promise is checked
// for both providers and for their independence.

const tuyaStatusPath = "/v1.0/iot-03/devices/status"

// goroutineSampler records runtime.NumGoroutine every 50ms until stopped.
type goroutineSampler struct {
	mu      sync.Mutex
	samples []int
	stop    chan struct{}
	done    chan struct{}
}

func sampleGoroutines() *goroutineSampler {
	s := &goroutineSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			n := runtime.NumGoroutine()
			s.mu.Lock()
			s.samples = append(s.samples, n)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the samples.
func (s *goroutineSampler) finish() []int {
	close(s.stop)
	<-s.done
	return s.samples
}

// accountEntries returns the log entries with message msg about account.
func accountEntries(logs *observer.ObservedLogs, msg, account string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.FilterMessage(msg).All() {
		if e.ContextMap()["account"] == account {
			out = append(out, e)
		}
	}
	return out
}

// countKasaReads counts the passthrough requests to device id among reqs.
func countKasaReads(h *harness, from int, id string) int {
	n := 0
	reqs := h.fake.Requests()
	for _, r := range reqs[min(from, len(reqs)):] {
		if r.Method == "passthrough" && r.DeviceID == id {
			n++
		}
	}
	return n
}

// TestReliability_CloudOutage: both clouds answer HTTP 500 and then hang,
// for several poll intervals. Promises: every request ends at the request
// timeout (the fake's HTTP client has no timeout of its own); a failing
// account is read with a growing, jittered, capped back-off that resets on
// success; devices become unavailable after poll.unavailable_after missed
// reads, not earlier; hung requests do not pile up as goroutines; and the
// recovery is logged once per account, without a line per device.
func TestReliability_CloudOutage(t *testing.T) {
	if !alone(t) { // it counts the process's goroutines
		return
	}
	const (
		interval   = time.Second
		reqTimeout = time.Second
		missed     = 3
		backoffCap = 5 * interval // pollBackoff's cap for this interval
	)
	h := newHarness(t, "mochi")
	f := h.addFleet()
	tf := h.addTuya()
	h.cfg.Poll.Interval = interval
	h.cfg.Poll.RequestTimeout = reqTimeout
	h.cfg.Poll.UnavailableAfter = missed
	h.start()
	lamp, heater := h.deviceTopic(0, f.lamp), h.deviceTopic(0, tf.plug)
	h.rec.waitMsg(0, base+"/"+lamp+"/availability", contains(`"online"`))
	h.rec.waitMsg(0, base+"/"+heater+"/availability", contains(`"online"`))
	h.rec.waitMsg(0, base+"/"+lamp, nil)
	h.rec.waitMsg(0, base+"/"+heater, nil)
	h.waitPolls("home", 2) // steady state: every worker and connection exists
	h.waitPolls("garden", 2)
	before := runtime.NumGoroutine()

	// Phase 1: HTTP 500 from both clouds.
	mk := h.rec.mark()
	kasaMark, tuyaMark := len(h.fake.Requests()), tf.srv.Calls(tuyaStatusPath)
	outageStart := time.Now()
	h.fake.FailHTTP(1<<30, http.StatusInternalServerError)
	tf.srv.FailHTTP(1<<30, http.StatusInternalServerError)

	// Unavailable after exactly `missed` failed reads, not after fewer.
	var lampReads, heaterReads int
	var wg sync.WaitGroup
	var lampOff, heaterOff time.Duration
	wg.Go(func() {
		h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"offline"`))
		lampOff, lampReads = time.Since(outageStart), countKasaReads(h, kasaMark, f.lamp)
	})
	wg.Go(func() {
		h.rec.waitMsg(mk, base+"/"+heater+"/availability", contains(`"offline"`))
		heaterOff, heaterReads = time.Since(outageStart), tf.srv.Calls(tuyaStatusPath)-tuyaMark
	})
	wg.Wait()
	t.Logf("HTTP 500s: kasa lamp unavailable after %d failed reads (%s), tuya heater after %d (%s); unavailable_after %d",
		lampReads, lampOff.Round(time.Millisecond), heaterReads, heaterOff.Round(time.Millisecond), missed)
	for name, n := range map[string]int{"kasa lamp": lampReads, "tuya heater": heaterReads} {
		// The read that made it unavailable is the missed'th; one more may
		// have started before the recorder saw the message.
		if n < missed || n > missed+1 {
			t.Errorf("%s became unavailable after %d failed reads, want %d", name, n, missed)
		}
	}
	h.rec.waitMsg(mk, base+"/bridge/event", contains(`"type":"account_error"`))
	info := h.rec.waitMsg(mk, base+"/bridge/info", func(p string) bool {
		return strings.Count(p, `"status":"error"`) == 2
	})
	if !strings.Contains(info.payload, "cloud unavailable") {
		t.Errorf("bridge/info does not say the cloud is unavailable: %s", info.payload)
	}
	time.Sleep(2 * interval) // the 500s go on: more failed reads, a longer back-off

	// Phase 2: both clouds hang. Requests end at the request timeout.
	h.fake.FailHTTP(0, 0)
	tf.srv.FailHTTP(0, 0)
	hangStart := time.Now()
	h.fake.Hang(1 << 30)
	tf.srv.Hang(1 << 30)
	sampler := sampleGoroutines()
	time.Sleep(6 * time.Second) // the clouds hang this long
	samples := sampler.finish()
	for _, acct := range []string{"home", "garden"} {
		ok := false
		for _, e := range accountEntries(h.logs, "cloud account error; devices will show unavailable until it recovers", acct) {
			if e.Time.After(hangStart) && strings.Contains(entryText(e), fmt.Sprintf("no answer within %s", reqTimeout)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("account %s: no error saying the request got no answer within %s", acct, reqTimeout)
		}
	}

	// Hung requests must not pile up: between reads the goroutine count
	// falls back to the same floor, and a read in flight adds a bounded
	// number (a few per hung request).
	third := len(samples) / 3
	early, late, peak := slices.Min(samples[:third]), slices.Min(samples[2*third:]), slices.Max(samples)
	t.Logf("goroutines: %d before the outage; while the cloud hung: floor %d in the first third, %d in the last third, peak %d (%d samples)",
		before, early, late, peak, len(samples))
	if late > early+5 {
		t.Errorf("the goroutine floor grew from %d to %d while the cloud hung", early, late)
	}
	if peak > before+40 {
		t.Errorf("%d goroutines while the cloud hung, %d before", peak, before)
	}

	// The back-off: waits between failed reads grow, jittered, capped.
	for _, acct := range []string{"home", "garden"} {
		var waits []time.Duration
		var times []time.Time
		for _, e := range accountEntries(h.logs, "cloud account failing: next state read delayed", acct) {
			if e.Time.Before(outageStart) {
				continue
			}
			for _, fld := range e.Context {
				if fld.Key == "wait" {
					waits = append(waits, time.Duration(fld.Integer))
				}
			}
			times = append(times, e.Time)
		}
		var gaps []time.Duration
		for i := 1; i < len(times); i++ {
			gaps = append(gaps, times[i].Sub(times[i-1]).Round(10*time.Millisecond))
		}
		t.Logf("account %s: %d failed reads in %s of outage; back-off waits %v; gaps between failed reads %v",
			acct, len(waits), time.Since(outageStart).Round(time.Second), roundAll(waits), gaps)
		if len(waits) < 3 {
			t.Fatalf("account %s: only %d failed reads logged", acct, len(waits))
		}
		if slices.Min(waits) < interval || slices.Max(waits) > backoffCap {
			t.Errorf("account %s: back-off waits %v outside [%s, %s]", acct, waits, interval, backoffCap)
		}
		if slices.Max(waits) < 2*interval {
			t.Errorf("account %s: back-off never grew beyond %s: %v", acct, slices.Max(waits), waits)
		}
		// Without back-off, a read per interval: here far fewer.
		if maxReads := int(time.Since(outageStart) / interval); len(waits) > maxReads*2/3 {
			t.Errorf("account %s: %d failed reads in %d intervals: no back-off", acct, len(waits), maxReads)
		}
	}

	// Phase 3: both clouds answer again.
	mk = h.rec.mark()
	h.fake.Hang(0)
	tf.srv.Hang(0)
	recoverStart := time.Now()
	wg.Go(func() { h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"online"`)) })
	wg.Go(func() { h.rec.waitMsg(mk, base+"/"+heater+"/availability", contains(`"online"`)) })
	wg.Wait()
	back := time.Since(recoverStart)
	kettle := h.deviceTopic(0, f.kettle)
	h.rec.waitMsg(mk, base+"/"+kettle+"/availability", contains(`"online"`))
	h.rec.waitMsg(mk, base+"/"+h.deviceTopic(0, f.outlets[5])+"/availability", contains(`"online"`))
	h.rec.waitMsg(mk, base+"/"+h.deviceTopic(0, tf.gangs[1])+"/availability", contains(`"online"`))
	t.Logf("outage of %s: every device available again %s after the clouds answered (back-off cap %s)",
		recoverStart.Sub(outageStart).Round(time.Second), back.Round(time.Millisecond), backoffCap)
	if back > backoffCap+2*reqTimeout+2*time.Second {
		t.Errorf("recovery took %s, more than the back-off cap %s allows", back, backoffCap)
	}

	// The back-off resets: reads at the normal interval again, at least
	// three within four intervals.
	kasaMark = len(h.fake.Requests())
	for resetAt := time.Now(); countKasaReads(h, kasaMark, f.lamp) < 3 && time.Since(resetAt) < 4*interval; {
		time.Sleep(50 * time.Millisecond)
	}
	if n := countKasaReads(h, kasaMark, f.lamp); n < 3 {
		t.Errorf("%d reads of the lamp in %s after the recovery: the back-off did not reset", n, 4*interval)
	}
	h.fake.SetRelay(f.lamp, true)
	h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))

	// One log line per account says it recovered; no device says it.
	for _, acct := range []string{"home", "garden"} {
		if n := len(accountEntries(h.logs, "cloud account recovered", acct)); n != 1 {
			t.Errorf("account %s: %d \"cloud account recovered\" lines, want exactly 1", acct, n)
		}
		if n := len(accountEntries(h.logs, "cloud account error; devices will show unavailable until it recovers", acct)); n > 2 {
			t.Errorf("account %s: %d account error lines for two kinds of failure", acct, n)
		}
	}
	if n := h.logs.FilterMessage("device readable again").Len(); n != 0 {
		t.Errorf("%d \"device readable again\" lines: the recovery is the account's", n)
	}
	devicesInOutage := len(h.latestDeviceList())
	// A poll under way when the outage began may fail for some devices
	// only (before the account counts as failing): at most one line per
	// device, and only saying the cloud was unavailable.
	if lines := h.logs.FilterMessage("cannot read device").All(); len(lines) > devicesInOutage {
		t.Errorf("%d \"cannot read device\" lines during an account-wide outage (at most %d from a poll under way when it began)", len(lines), devicesInOutage)
	} else {
		for _, e := range lines {
			if !strings.Contains(entryText(e), "cloud unavailable") {
				t.Errorf("device read error during the outage is not about the cloud: %s", entryText(e))
			}
		}
	}
	for _, acct := range []string{"home", "garden"} {
		h.rec.waitMsg(mk, base+"/bridge/event", contains(`"type":"account_recovered","data":{"account":"`+acct+`"`))
	}
	eventually(t, "goroutines back to the level before the outage", func() bool {
		return runtime.NumGoroutine() <= before+5
	})
	// Account-level lines only, plus the per-device lines of a poll that
	// was under way when the outage began (checked above).
	boundary := h.logs.FilterMessage("cannot read device").Len()
	n := warnOrWorse(h.logs, outageStart)
	t.Logf("%d warnings and errors logged for the outage of two accounts (%d from a poll under way when it began)", n, boundary)
	if n-boundary > 12 {
		t.Errorf("%d warnings and errors logged for one outage of two accounts (%d from a poll under way when it began)", n, boundary)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// warnOrWorse counts the log entries at warn level or above since t0.
func warnOrWorse(logs *observer.ObservedLogs, t0 time.Time) int {
	n := 0
	for _, e := range logs.All() {
		if e.Level >= zapcore.WarnLevel && e.Time.After(t0) {
			n++
		}
	}
	return n
}

// ---- token storms -------------------------------------------------------------

// tokenCalls counts the Kasa logins and refreshes.
func kasaTokenCalls(h *harness) int { return h.fake.Calls("login") + h.fake.Calls("refreshToken") }

// tuyaTokenCalls counts the Tuya grants and refreshes.
func tuyaTokenCalls(f tuyaFleet) int { return f.srv.Calls("/v1.0/token") }

// addTuyaSpares adds n plain Tuya plugs and returns their ids.
func addTuyaSpares(f tuyaFleet, n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, f.srv.AddPlug(tuyaID, fmt.Sprintf("Tuya Spare %c", 'A'+i), false))
	}
	return ids
}

// stormCommands switches every device in ids on at once (one MQTT command
// each, published back to back) and returns the devices' topics.
func (h *harness) stormCommands(ids []string) []string {
	h.t.Helper()
	topics := make([]string, len(ids))
	for i, id := range ids {
		topics[i] = h.deviceTopic(0, id)
		h.rec.waitMsg(0, base+"/"+topics[i], contains(`"state":"OFF"`))
	}
	for _, topic := range topics {
		h.rec.publish(base+"/"+topic+"/set", "ON", false)
	}
	return topics
}

// TestReliability_TuyaTokenStormCausesOneRefresh: the access token dies
// while commands to every device and a poll are under way: they all get
// 1010 at once. Promise: exactly one token refresh, then every call
// succeeds.
func TestReliability_TuyaTokenStormCausesOneRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Accounts = h.cfg.Accounts[:0] // the Tuya project alone
	f := h.addTuya()
	spares := addTuyaSpares(f, 8)
	h.start()
	h.rec.waitMsg(0, base+"/"+h.deviceTopic(0, f.plug), nil)
	before := tuyaTokenCalls(f)
	expired := f.srv.Answers(1010)

	// The cloud holds the calls until one per command has arrived (a poll
	// may be one of them), so that they are in flight together and all
	// meet the dead token, however slowly a loaded machine sends them.
	f.srv.HoldNext(len(spares))
	f.srv.SetLatency(100 * time.Millisecond)
	mk := h.rec.mark()
	f.srv.ExpireTokens()
	topics := h.stormCommands(spares)
	for _, topic := range topics {
		h.rec.waitMsg(mk, base+"/"+topic, contains(`"state":"ON"`))
	}
	for _, id := range spares {
		if !f.srv.Switch(id, "switch_1") {
			t.Errorf("plug %s is off after ON", id)
		}
	}
	h.waitPolls("garden", 2) // another whole poll on the new token
	refused := f.srv.Answers(1010) - expired
	n := tuyaTokenCalls(f) - before
	t.Logf("tuya token storm: %d calls refused with 1010, %d token refresh(es)", refused, n)
	if n != 1 {
		t.Fatalf("token expiry across %d devices caused %d token grants/refreshes, want exactly 1", len(spares)+3, n)
	}
	if refused < len(spares) {
		t.Errorf("only %d calls saw the expired token, fewer than the %d commands: no storm", refused, len(spares))
	}
	settled := f.srv.Answers(1010)
	h.waitPolls("garden", 2)
	if f.srv.Answers(1010) != settled {
		t.Error("calls still refused with 1010 after the refresh")
	}
	if h.logged(zapcore.ErrorLevel, "command failed") || h.logs.FilterMessage("cloud account error; devices will show unavailable until it recovers").Len() != 0 {
		t.Error("the token expiry surfaced as a failure")
	}
}

// TestReliability_TokenStormOnBothAccounts: the Kasa and the Tuya tokens
// die at the same instant, with commands to devices of both accounts under
// way. Promise: exactly one login/refresh per account, then all calls
// succeed.
func TestReliability_TokenStormOnBothAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	kf := h.addFleet()
	var kasaSpares []string
	for i := range 4 {
		kasaSpares = append(kasaSpares, h.fake.AddPlug(user, fmt.Sprintf("Kasa Spare %c", 'A'+i), "HS103(US)"))
	}
	tf := h.addTuya()
	tuyaSpares := addTuyaSpares(tf, 4)
	h.start()
	h.rec.waitMsg(0, base+"/"+h.deviceTopic(0, kf.lamp), nil)
	h.rec.waitMsg(0, base+"/"+h.deviceTopic(0, tf.plug), nil)
	kasaBefore, tuyaBefore := kasaTokenCalls(h), tuyaTokenCalls(tf)
	kasaReqs, tuyaExpired := len(h.fake.Requests()), tf.srv.Answers(1010)

	// As in TestReliability_TuyaTokenStormCausesOneRefresh: calls held
	// until one per command has arrived at each cloud.
	h.fake.HoldNext(len(kasaSpares))
	tf.srv.HoldNext(len(tuyaSpares))
	h.fake.SetLatency(100 * time.Millisecond)
	tf.srv.SetLatency(100 * time.Millisecond)
	mk := h.rec.mark()
	h.fake.ExpireTokens()
	tf.srv.ExpireTokens()
	topics := h.stormCommands(append(slices.Clone(kasaSpares), tuyaSpares...))
	for _, topic := range topics {
		h.rec.waitMsg(mk, base+"/"+topic, contains(`"state":"ON"`))
	}
	for _, id := range kasaSpares {
		if !h.fake.Relay(id) {
			t.Errorf("kasa plug %s is off after ON", id)
		}
	}
	for _, id := range tuyaSpares {
		if !tf.srv.Switch(id, "switch_1") {
			t.Errorf("tuya plug %s is off after ON", id)
		}
	}
	// Both accounts keep polling on their new tokens.
	h.fake.SetRelay(kf.lamp, true)
	tf.srv.SetSwitch(tf.plug, "switch_1", false)
	h.rec.waitMsg(mk, base+"/"+h.deviceTopic(0, kf.lamp), contains(`"state":"ON"`))
	h.rec.waitMsg(mk, base+"/"+h.deviceTopic(0, tf.plug), contains(`"state":"OFF"`))
	h.waitPolls("home", 2) // another whole poll of each on its new token
	h.waitPolls("garden", 2)
	k, tu := kasaTokenCalls(h)-kasaBefore, tuyaTokenCalls(tf)-tuyaBefore
	stale := 0 // Kasa calls that carried a token issued before the expiry
	issued := map[string]bool{}
	for _, r := range h.fake.Requests()[:kasaReqs] {
		issued[r.Token] = true
	}
	for _, r := range h.fake.Requests()[kasaReqs:] {
		if r.Token != "" && issued[r.Token] {
			stale++
		}
	}
	refused := tf.srv.Answers(1010) - tuyaExpired
	t.Logf("token storm on both accounts: %d kasa calls with the dead token, then %d login/refresh; %d tuya calls refused with 1010, then %d grant/refresh",
		stale, k, refused, tu)
	if stale < len(kasaSpares) || refused < len(tuyaSpares) {
		t.Errorf("no storm: %d kasa and %d tuya calls met the dead tokens", stale, refused)
	}
	if k != 1 || tu != 1 {
		t.Fatalf("kasa %d logins/refreshes, tuya %d grants/refreshes; want exactly 1 each", k, tu)
	}
	if h.logged(zapcore.ErrorLevel, "command failed") || h.logs.FilterMessage("cloud account error; devices will show unavailable until it recovers").Len() != 0 {
		t.Error("the token expiry surfaced as a failure")
	}
}

// ---- wrong credentials ----------------------------------------------------------

// accountStatus returns account's status in a bridge/info payload.
func accountStatus(payload, account string) string {
	var info struct {
		Accounts map[string]struct {
			Status string `json:"status"`
		} `json:"accounts"`
	}
	if json.Unmarshal([]byte(payload), &info) != nil {
		return ""
	}
	return info.Accounts[account].Status
}

// waitAccountStatus waits for bridge/info to show every account in want
// with its status and returns that payload.
func (h *harness) waitAccountStatus(from int, want map[string]string) string {
	h.t.Helper()
	return h.rec.waitMsg(from, base+"/bridge/info", func(p string) bool {
		for acct, st := range want {
			if accountStatus(p, acct) != st {
				return false
			}
		}
		return true
	}).payload
}

// TestReliability_WrongKasaPasswordNextToAWorkingTuyaProject: one login
// attempt per start, never more, however often the list comes round; the
// error is in bridge/info, bridge/event and the log; the Tuya project keeps
// working (state and commands); a corrected configuration is used at the
// next start.
func TestReliability_WrongKasaPasswordNextToAWorkingTuyaProject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	kf := h.addFleet()
	tf := h.addTuya()
	h.kasaSettings(0).Password = "not-the-password"
	h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
	h.start()

	h.waitAccountStatus(0, map[string]string{"home": "auth_error", "garden": "ok"})
	h.rec.waitMsg(0, base+"/bridge/event", func(p string) bool {
		return strings.Contains(p, `"type":"account_error"`) && strings.Contains(p, `"account":"home"`) &&
			strings.Contains(p, `"status":"auth_error"`) && strings.Contains(p, "wrong password")
	})
	eventually(t, "a clear log line", func() bool { return h.logged(zapcore.ErrorLevel, "wrong password") })

	// The Tuya project is unaffected: state, and a command.
	heater, gang2 := h.deviceTopic(0, tf.plug), h.deviceTopic(0, tf.gangs[1])
	h.rec.waitMsg(0, base+"/"+heater, contains(`"state":"ON"`))
	h.rec.waitMsg(0, base+"/"+gang2, contains(`"state":"OFF"`))
	mk := h.rec.mark()
	h.rec.publish(base+"/"+gang2+"/set", "ON", false)
	h.rec.waitMsg(mk, base+"/"+gang2, contains(`"state":"ON"`))
	if !tf.srv.Switch(tf.strip, "switch_2") {
		t.Error("the Tuya command did not reach the cloud")
	}

	lists := tf.srv.Calls("/v1.0/iot-01/associated-users/devices")
	h.waitFailedCalls("home", h.failedCalls("home")+6) // six list intervals: six chances to log in again
	if n := h.fake.Calls("login"); n != 1 {
		t.Fatalf("wrong password: %d login attempts over six list intervals, want exactly 1", n)
	}
	if n := h.fake.Calls("getDeviceList") + h.fake.Calls("passthrough"); n != 0 {
		t.Errorf("%d Kasa calls without a token", n)
	}
	if n := tf.srv.Calls("/v1.0/iot-01/associated-users/devices") - lists; n < 3 {
		t.Errorf("the Tuya project was listed %d times in six list intervals", n)
	}
	if n := h.logs.FilterMessage("cloud account error; devices will show unavailable until it recovers").Len(); n != 1 {
		t.Errorf("%d account error lines for one wrong password", n)
	}
	t.Logf("wrong password: %d login attempt in %s (list every %s); the Tuya project listed %d times meanwhile",
		h.fake.Calls("login"), time.Since(h.started).Round(100*time.Millisecond), h.cfg.Poll.DeviceListInterval,
		tf.srv.Calls("/v1.0/iot-01/associated-users/devices"))

	// A configuration change (a restart): one new attempt, with the new
	// password, and the Kasa devices come.
	h.stop()
	h.kasaSettings(0).Password = password
	mk = h.rec.mark()
	h.start()
	h.rec.waitMsg(mk, base+"/"+h.deviceTopic(mk, kf.lamp)+"/availability", contains(`"online"`))
	h.waitAccountStatus(mk, map[string]string{"home": "ok", "garden": "ok"})
	if n := h.fake.Calls("login"); n != 2 {
		t.Errorf("%d login attempts after the restart with the right password, want 2", n)
	}
}

// TestReliability_WrongTuyaSecretNextToAWorkingKasaAccount: a wrong access
// secret makes the token grant fail with 1004 (sign invalid). One grant
// attempt, no other call; the error is in bridge/info, bridge/event and the
// log; the Kasa account keeps working (state and commands).
func TestReliability_WrongTuyaSecretNextToAWorkingKasaAccount(t *testing.T) {
	t.Parallel()
	const wrongSecret = "ffffffffffffffff0123456789abcdef"
	h := newHarness(t, "mochi")
	kf := h.addFleet()
	tf := h.addTuya()
	h.tuyaSettings(1).AccessSecret = wrongSecret
	h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
	h.start()

	info := h.waitAccountStatus(0, map[string]string{"home": "ok", "garden": "auth_error"})
	if !strings.Contains(info, "1004") {
		t.Errorf("bridge/info does not name the error code: %s", info)
	}
	h.rec.waitMsg(0, base+"/bridge/event", func(p string) bool {
		return strings.Contains(p, `"type":"account_error"`) && strings.Contains(p, `"account":"garden"`) &&
			strings.Contains(p, `"status":"auth_error"`) && strings.Contains(p, "check access_id and access_secret")
	})
	eventually(t, "a clear log line", func() bool {
		return h.logged(zapcore.ErrorLevel, "cloud account error", "garden", "check access_id and access_secret")
	})

	// The Kasa account is unaffected: state, and a command.
	lamp := h.deviceTopic(0, kf.lamp)
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
	mk := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
	if !h.fake.Relay(kf.lamp) {
		t.Error("the Kasa command did not reach the cloud")
	}

	h.waitFailedCalls("garden", h.failedCalls("garden")+6) // six list intervals: six chances to ask for a token again
	if n := tf.srv.Calls(""); n != 1 || tf.srv.Calls("/v1.0/token") != 1 {
		t.Fatalf("wrong secret: %d Tuya calls (%d token grants) over six list intervals, want exactly 1 grant",
			n, tf.srv.Calls("/v1.0/token"))
	}
	if n := h.logs.FilterMessage("cloud account error; devices will show unavailable until it recovers").Len(); n != 1 {
		t.Errorf("%d account error lines for one wrong secret", n)
	}
	t.Logf("wrong secret: %d token grant in %s (list every %s)", tf.srv.Calls("/v1.0/token"),
		time.Since(h.started).Round(100*time.Millisecond), h.cfg.Poll.DeviceListInterval)
	for _, e := range h.logs.All() {
		if strings.Contains(entryText(e), wrongSecret) {
			t.Fatalf("the wrong secret appeared in a log line: %s", e.Message)
		}
	}
}
