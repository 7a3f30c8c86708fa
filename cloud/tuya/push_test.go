package tuya_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock/clocktest"
)

// A button press on a metered plug arrives as one State built exactly like
// a polled one (relay, scaled power, voltage, current, energy), with no
// status call.
func TestPush_ButtonPressArrivesAsTheStateAPollWouldRead(t *testing.T) {
	for _, gcm := range []bool{false, true} {
		t.Run(map[bool]string{false: "aes_ecb", true: "aes_gcm"}[gcm], func(t *testing.T) {
			e := newEnv(t)
			plug := e.srv.AddPlug(testAccessID, "Heater", true)
			e.srv.SetPower(plug, 1234.5)
			e.srv.SetPushEncryption(testAccessID, gcm)
			p := e.provider(withPush(e, tuya.PushAuto))
			mustList(t, e, p)
			sink := runPush(t, p)
			sink.waitConnected(t, true)

			statusCalls := e.srv.Calls(statusPath)
			from := sink.mark()
			e.srv.SetSwitch(plug, "switch_1", true)
			pushed := sink.waitState(t, from, plug, func(s cloud.State) bool { return s.Relay != nil && *s.Relay })
			if n := e.srv.Calls(statusPath) - statusCalls; n != 0 {
				t.Fatalf("%d status calls for a pushed change", n)
			}
			polled := mustRead(t, e, p, plug)[plug]
			if fval(pushed.PowerW) != fval(polled.PowerW) || fval(pushed.VoltageV) != fval(polled.VoltageV) ||
				fval(pushed.CurrentA) != fval(polled.CurrentA) || fval(pushed.EnergyKWh) != fval(polled.EnergyKWh) ||
				*pushed.Relay != *polled.Relay || !pushed.Online {
				t.Fatalf("pushed state %+v differs from the polled one %+v", pushed, polled)
			}
			if !near(*pushed.PowerW, 1234.5) || !near(*pushed.VoltageV, 230) {
				t.Fatalf("pushed power %s W, voltage %s V: want the specification's scales applied", fval(pushed.PowerW), fval(pushed.VoltageV))
			}
		})
	}
}

// A strip's gang switched in the app updates that outlet; events map to
// availability, renames (outlets follow the strip's name) and relists.
func TestPush_StripGangsOnlineOfflineRenameAndRelist(t *testing.T) {
	e := newEnv(t)
	strip, gangs := e.srv.AddStrip(testAccessID, "Desk Power", 2)
	p := e.provider(withPush(e, tuya.PushOn))
	mustList(t, e, p)
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	from := sink.mark()
	e.srv.SetSwitch(strip, "switch_2", true)
	sink.waitState(t, from, gangs[1], func(s cloud.State) bool { return s.Relay != nil && *s.Relay })

	find := func(from int, kind cloud.UpdateKind, id string) (cloud.Update, bool) {
		for _, u := range sink.since(from) {
			if u.Kind == kind && u.DeviceID == id {
				return u, true
			}
		}
		return cloud.Update{}, false
	}
	from = sink.mark()
	e.srv.SetOnline(strip, false)
	sink.waitFor(t, "offline for the strip and both gangs", func() bool {
		a, ok1 := find(from, cloud.UpdateAvailability, strip)
		b, ok2 := find(from, cloud.UpdateAvailability, gangs[0])
		c, ok3 := find(from, cloud.UpdateAvailability, gangs[1])
		return ok1 && ok2 && ok3 && !a.Online && !b.Online && !c.Online
	})
	from = sink.mark()
	e.srv.SetOnline(strip, true)
	sink.waitFor(t, "online again", func() bool { u, ok := find(from, cloud.UpdateAvailability, gangs[1]); return ok && u.Online })

	from = sink.mark()
	e.srv.RenameDevice(strip, "Office Power")
	sink.waitFor(t, "renames", func() bool {
		a, ok1 := find(from, cloud.UpdateRename, strip)
		b, ok2 := find(from, cloud.UpdateRename, gangs[1])
		return ok1 && ok2 && a.Name == "Office Power" && b.Name == "Office Power 2"
	})

	from = sink.mark()
	e.srv.AddPlug(testAccessID, "New Plug", false) // bound to the user
	sink.waitFor(t, "a relist", func() bool { _, ok := find(from, cloud.UpdateRelist, ""); return ok })
}

// A project linked to several app accounts pushes the devices of all of
// them, while an account with user_id lists its user's only. A device the
// account does not list asks for a new list once (it may be new), and not
// again however often it reports: every list costs API calls of the quota
// that push is there to save.
func TestPush_UnlistedDeviceAsksForOneListOnly(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Mine", false)
	theirs := e.srv.AddPlug(testAccessID, "Theirs", false)
	e.srv.SetOtherUser(theirs)
	p := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.UserID = e.srv.UserID(testAccessID) })
	if devs := mustList(t, e, p); len(devs) != 1 {
		t.Fatalf("listed %d devices, want the user's one", len(devs))
	}
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	from := sink.mark()
	for i := range 4 {
		e.srv.SetSwitch(theirs, "switch_1", i%2 == 0)
		sink.waitFor(t, "the report acknowledged", func() bool {
			st := e.srv.PushStats(testAccessID)
			return st.Published > 0 && st.Acked == st.Published
		})
		mustList(t, e, p) // what the poller lists when asked: not the account's device
		e.clock.Set(time.Duration(i+1) * 11 * time.Minute)
	}
	relists := 0
	for _, u := range sink.since(from) {
		if u.Kind == cloud.UpdateRelist {
			relists++
		}
	}
	if relists != 1 {
		t.Errorf("%d list requests for 4 reports of a device the account does not list, 11 minutes apart; want 1", relists)
	}
}

// Both protocol families enabled: every change arrives twice, and is
// applied once. A message the service delivers again (its acknowledgement
// lost) is applied once.
func TestPush_DuplicatesAndRedeliveriesAppliedOnce(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Lamp", false)
	e.srv.SetPushProtocols(testAccessID, true, true)
	obs := newPushObserver()
	p := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.Observer = obs })
	mustList(t, e, p)
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	e.srv.SetAckTimeout(testAccessID, 50*time.Millisecond)
	e.srv.IgnoreAcks(testAccessID, 2) // both copies of the next change are delivered again
	from := sink.mark()
	e.srv.SetSwitch(plug, "switch_1", true)
	sink.waitFor(t, "the redeliveries", func() bool {
		return e.srv.PushStats(testAccessID).Redelivered >= 2 && obs.count(cloud.PushDuplicate) >= 3
	})
	sink.waitFor(t, "every message acknowledged", func() bool { return e.srv.PushStats(testAccessID).Pending == 0 })
	var states int
	for _, u := range sink.since(from) {
		if u.Kind == cloud.UpdateState {
			states++
		}
	}
	if states != 1 {
		t.Fatalf("%d state updates for one change sent in two protocol families and delivered again, want 1", states)
	}
	if obs.frame("4", cloud.PushApplied)+obs.frame("1000", cloud.PushApplied) != 1 {
		t.Fatalf("frames %v: want exactly one applied", obs.frames)
	}
}

// add_ele is counted once whether it arrives by push, by poll or both,
// also when the message is delivered again after a restart.
func TestPush_EnergyCountedOncePushedPolledRedeliveredAndAfterRestart(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Heater", true)
	e.srv.SetSwitch(plug, "switch_1", true)
	e.srv.SetPower(plug, 1000)
	meter := e.meter()
	withMeter := func(o *tuya.Options) { o.Energy = meter }
	p := e.provider(withPush(e, tuya.PushAuto), withMeter)
	mustList(t, e, p)
	start := *mustRead(t, e, p, plug)[plug].EnergyKWh
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	e.srv.IgnoreAcks(testAccessID, 1)
	from := sink.mark()
	e.srv.Tick(time.Hour) // 1 kWh, pushed as one add_ele report
	st := sink.waitState(t, from, plug, func(s cloud.State) bool { return s.EnergyKWh != nil && *s.EnergyKWh > start })
	if !near(*st.EnergyKWh, start+1) {
		t.Fatalf("pushed energy %v, want %v", *st.EnergyKWh, start+1)
	}
	for range 3 { // polls see nothing new
		if got := *mustRead(t, e, p, plug)[plug].EnergyKWh; !near(got, start+1) {
			t.Fatalf("a poll after the push moved the total to %v", got)
		}
	}
	if err := meter.Flush(); err != nil {
		t.Fatal(err)
	}

	// A restart: the unacknowledged report is delivered again to a new
	// provider (new memory, same energy file).
	meter2 := e.meter()
	p2 := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.Energy = meter2 })
	mustList(t, e, p2)
	sink2 := runPush(t, p2)
	sink2.waitFor(t, "the redelivery", func() bool { return e.srv.PushStats(testAccessID).Redelivered >= 1 })
	sink2.waitFor(t, "the queue drained", func() bool { return e.srv.PushStats(testAccessID).Pending == 0 })
	if got, _ := meter2.Total("tuya/" + plug); !near(got, start+1) {
		t.Fatalf("total after the redelivery to a restarted provider = %v, want %v", got, start+1)
	}
}

// Garbage is counted by kind, logged once per kind, acknowledged and never
// applied; the connection survives it.
func TestPush_GarbageCountedLoggedOnceAndAcknowledged(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Lamp", false)
	obs := newPushObserver()
	// A keep-alive slow enough for 1 MiB frames under the race detector.
	p := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.Observer, o.PushKeepAlive = obs, 2*time.Second })
	mustList(t, e, p)
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	for range 2 {
		for _, g := range []tuyatest.Garbage{tuyatest.GarbageBadBase64, tuyatest.GarbageWrongKey, tuyatest.GarbageTruncatedGCM,
			tuyatest.GarbageUnknownProtocol, tuyatest.GarbageHuge} {
			e.srv.SendGarbage(testAccessID, g)
		}
	}
	from := sink.mark()
	e.srv.SetSwitch(plug, "switch_1", true) // still applied after the garbage
	sink.waitState(t, from, plug, nil)
	sink.waitFor(t, "every message acknowledged", func() bool { return e.srv.PushStats(testAccessID).Pending == 0 })

	for result, want := range map[string]int{cloud.PushParseError: 4, cloud.PushDecryptError: 4, cloud.PushIgnored: 2, cloud.PushApplied: 1} {
		if got := obs.count(result); got != want {
			t.Errorf("%s frames: %d, want %d (all %v)", result, got, want, obs.frames)
		}
	}
	if obs.frame("99", cloud.PushIgnored) != 2 {
		t.Errorf("unknown protocol not counted under its number: %v", obs.frames)
	}
	if n := len(sink.since(from)); n != 1 {
		t.Errorf("%d updates, want only the switch's", n)
	}
	if st := e.srv.PushStats(testAccessID); st.Connections != 1 {
		t.Errorf("garbage cost the connection: %d connections", st.Connections)
	}
	for _, kind := range []string{cloud.PushParseError, cloud.PushDecryptError} {
		n := 0
		for _, l := range e.logs.FilterMessageSnippet("unusable messages").All() {
			if l.ContextMap()["result"] == kind {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d log lines for %s, want 1", n, kind)
		}
	}
	if n := e.logs.FilterMessageSnippet("protocol kasa2mqtt does not read").Len(); n != 1 {
		t.Errorf("%d log lines for the unknown protocol, want 1", n)
	}
}

// auto: a project without message service polls, with one warning that
// says what to enable; polled energy is counted then. on: the same is an
// account problem.
func TestPush_RefusedFallsBackToPollingWithOneWarning(t *testing.T) {
	for _, mode := range []string{tuya.PushAuto, tuya.PushOn} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			plug := e.srv.AddPlug(testAccessID, "Heater", true)
			e.srv.SetSwitch(plug, "switch_1", true)
			e.srv.SetPower(plug, 1000)
			e.srv.SetMessageService(testAccessID, false)
			p := e.provider(withPush(e, mode))
			mustList(t, e, p)
			sink := runPush(t, p)
			sink.waitFor(t, "the refusal", func() bool { st, n := sink.status(); return n > 0 && st.Problem != "" })
			st, _ := sink.status()
			if st.Connected || st.Required != (mode == tuya.PushOn) || !strings.Contains(st.Problem, "Message Service") {
				t.Fatalf("status %+v: want not connected, required=%v, a problem saying what to enable", st, mode == tuya.PushOn)
			}
			lines := e.logs.FilterMessageSnippet("tuya push not available").All()
			if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0].ContextMap()["reason"]), "Message Service") {
				t.Fatalf("log lines %v: want one naming the Message Service", lines)
			}
			before := *mustRead(t, e, p, plug)[plug].EnergyKWh
			e.srv.Tick(time.Hour)
			if got := *mustRead(t, e, p, plug)[plug].EnergyKWh; !near(got, before+1) {
				t.Fatalf("polled energy %v after an hour at 1 kW from %v: polls must count it without push", got, before)
			}
		})
	}
}

// A dropped connection reconnects with one line for the loss and one for
// the restoration; a stalled one is noticed by the keep-alive and
// replaced.
func TestPush_DropAndStallReconnect(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testAccessID, "Lamp", false)
	obs := newPushObserver()
	p := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.Observer = obs })
	mustList(t, e, p)
	sink := runPush(t, p)
	sink.waitConnected(t, true)

	e.srv.DropPushConnection(testAccessID)
	sink.waitConnected(t, false)
	sink.waitConnected(t, true)

	e.srv.StallPush(testAccessID, true)
	sink.waitConnected(t, false)
	e.srv.StallPush(testAccessID, false)
	sink.waitConnected(t, true)
	from := sink.mark()
	e.srv.SetSwitch(plug, "switch_1", true)
	sink.waitState(t, from, plug, nil)

	if n := e.logs.FilterMessageSnippet("tuya push connection lost").Len(); n != 2 {
		t.Errorf("%d lost lines for two losses", n)
	}
	if n := e.logs.FilterMessageSnippet("tuya push connection restored").Len(); n != 2 {
		t.Errorf("%d restored lines for two restorations", n)
	}
	if l := e.logs.FilterMessageSnippet("tuya push connection lost").All(); len(l) == 2 && !strings.Contains(fmt.Sprint(l[1].ContextMap()["error"]), "keep-alive") {
		t.Errorf("the stalled connection's loss does not say it was silent: %v", l[1].ContextMap())
	}
	if obs.reconnects != 2 {
		t.Errorf("%d reconnects counted, want 2", obs.reconnects)
	}
}

// A message service that takes every connection and hangs up at once (a
// flapping connection) is not hammered: each connection that ends before
// its first keep-alive ping lengthens the wait before the next, as a
// failed attempt does (1 s doubling to 2 minutes, jittered).
func TestPush_FlappingConnectionBacksOff(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Lamp", false)
	clk := clocktest.New(time.Now())
	p := e.provider(withPush(e, tuya.PushAuto), func(o *tuya.Options) { o.Clock, o.PushKeepAlive = clk, time.Hour })
	mustList(t, e, p)
	e.srv.HangUpPush(testAccessID, true)
	runPush(t, p)

	// reconnectWait waits for the consumer to sleep before its next
	// attempt (the one armed timer, sooner than the keep-alive ping).
	reconnectWait := func() time.Duration {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if at, ok := clk.Next(); ok && clk.Armed() == 1 && at.Sub(clk.Now()) < time.Hour {
				return at.Sub(clk.Now())
			}
		}
		t.Fatal("no reconnect wait armed")
		return 0
	}
	var waits []time.Duration
	for range 8 {
		d := reconnectWait()
		waits = append(waits, d)
		clk.Advance(d)
	}
	if last := waits[len(waits)-1]; last < 30*time.Second {
		t.Errorf("waits between reconnects to a service that hangs up %v: want them growing to a minute or two", waits)
	}
	if n := e.srv.PushStats(testAccessID).HungUp; n < 7 || n > 9 {
		t.Errorf("%d connections hung up, want one per wait", n)
	}
}

// push off, or no address known: Push returns at once; energy is polled.
func TestPush_OffOrNoAddressReturnsAtOnce(t *testing.T) {
	e := newEnv(t)
	for _, mod := range []func(*tuya.Options){
		func(o *tuya.Options) { o.Push = tuya.PushOff },
		func(o *tuya.Options) { o.Push = tuya.PushAuto }, // a custom endpoint and no push_url
	} {
		p := e.provider(mod)
		done := make(chan struct{})
		sink := newPushSink()
		go func() { p.Push(ctxT(t), sink); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Push did not return")
		}
	}
	if n := e.logs.FilterMessageSnippet("tuya push not available").Len(); n != 1 {
		t.Fatalf("%d warnings, want one for the account without an address", n)
	}
}

// push: on is required in every status report, not only in a refusal:
// bridge/info shows "required":true while the connection is up, and after
// it dropped.
func TestPush_OnIsRequiredWhileConnectedAndAfterADrop(t *testing.T) {
	for _, mode := range []string{tuya.PushAuto, tuya.PushOn} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddPlug(testAccessID, "Lamp", false)
			p := e.provider(withPush(e, mode))
			mustList(t, e, p)
			sink := runPush(t, p)
			sink.waitConnected(t, true)
			if st, _ := sink.status(); st.Required != (mode == tuya.PushOn) {
				t.Fatalf("connected status %+v: want required=%v", st, mode == tuya.PushOn)
			}
			e.srv.DropPushConnection(testAccessID)
			sink.waitConnected(t, false)
			if st, _ := sink.status(); st.Required != (mode == tuya.PushOn) {
				t.Fatalf("status after a drop %+v: want required=%v", st, mode == tuya.PushOn)
			}
		})
	}
}
