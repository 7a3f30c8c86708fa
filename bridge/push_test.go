package bridge

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// A pushed state publishes as a polled one; a poll that started before it
// does not overwrite it; a pushed state older than a command's confirming
// read is ignored.
func TestPush_StateAppliedLikeAPollAndNewerThanOlderPolls(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", false))
	pollStart := h.clock.Now()
	h.clock.Advance(time.Second)

	pushed := relayState("A", true)
	pushed.ReadAt = h.clock.Now()
	h.apply(h.reg.handlePush(pushEvent{prov: home, update: cloud.Update{Kind: cloud.UpdateState, DeviceID: "A", State: pushed}}))
	if got := h.pub.retained["kasa2mqtt/lamp"]; !strings.Contains(got, `"state":"ON"`) {
		t.Fatalf("state after the push: %s", got)
	}
	// The poll that started before the push answers late with the old value.
	h.poll(home, pollStart, relayState("A", false))
	if got := h.pub.retained["kasa2mqtt/lamp"]; !strings.Contains(got, `"state":"ON"`) {
		t.Fatalf("a poll older than the push overwrote it: %s", got)
	}
	// A command's confirming read, then a push of a change before it.
	h.command("kasa2mqtt/lamp/set", "OFF")
	jobs := h.takeJobs()
	h.clock.Advance(time.Second)
	h.finish(jobs[0], resultEvent{state: ptr(relayState("A", false)), started: h.clock.Now()})
	stale := relayState("A", true)
	stale.ReadAt = h.clock.Now().Add(-500 * time.Millisecond)
	h.apply(h.reg.handlePush(pushEvent{prov: home, update: cloud.Update{Kind: cloud.UpdateState, DeviceID: "A", State: stale}}))
	if got := h.pub.retained["kasa2mqtt/lamp"]; !strings.Contains(got, `"state":"OFF"`) {
		t.Fatalf("a push older than the confirming read was applied: %s", got)
	}
}

// Availability at once; a rename moves the topic like a rename in the
// app; relist asks the poller; unknown devices are ignored.
func TestPush_AvailabilityRenameRelist(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", true))
	push := func(u cloud.Update) { h.apply(h.reg.handlePush(pushEvent{prov: home, update: u})) }

	push(cloud.Update{Kind: cloud.UpdateAvailability, DeviceID: "A", Online: false})
	if got := h.pub.retained["kasa2mqtt/lamp/availability"]; !strings.Contains(got, "offline") {
		t.Fatalf("availability after an offline push: %s", got)
	}
	push(cloud.Update{Kind: cloud.UpdateAvailability, DeviceID: "A", Online: true})
	if got := h.pub.retained["kasa2mqtt/lamp/availability"]; !strings.Contains(got, "online") {
		t.Fatalf("availability after an online push: %s", got)
	}

	push(cloud.Update{Kind: cloud.UpdateRename, DeviceID: "A", Name: "Desk Lamp"})
	if h.topics()["A"] != "desk_lamp" || h.pub.retained["kasa2mqtt/lamp"] != "" {
		t.Fatalf("topics after the rename: %v (old state %q)", h.topics(), h.pub.retained["kasa2mqtt/lamp"])
	}
	if ev := h.eventTypes(); ev[len(ev)-1] != "device_renamed" {
		t.Fatalf("events %v: want device_renamed last", ev)
	}
	n := len(h.pub.events)
	push(cloud.Update{Kind: cloud.UpdateRename, DeviceID: "A", Name: "Desk Lamp"}) // same name again
	if len(h.pub.events) != n {
		t.Fatal("a rename to the same name raised an event")
	}

	push(cloud.Update{Kind: cloud.UpdateRelist})
	if len(h.relists) != 1 || h.relists[0] != "home" {
		t.Fatalf("relists %v", h.relists)
	}
	push(cloud.Update{Kind: cloud.UpdateState, DeviceID: "ZZ", State: relayState("ZZ", true)}) // not bridged
}

// The push connection's health shows in bridge/info and health_check; a
// problem of an account that requires push is an account problem.
func TestPush_StatusInInfoAndHealth(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	since := h.clock.Now()
	h.apply(h.reg.handlePushStatus(pushStatusEvent{prov: home, status: cloud.PushStatus{Connected: true, Since: since}}))
	var info bridgeInfo
	if err := json.Unmarshal([]byte(h.pub.retained["kasa2mqtt/bridge/info"]), &info); err != nil {
		t.Fatal(err)
	}
	pi := info.Accounts["home"].Push
	if pi == nil || !pi.Connected || pi.Since == nil || !pi.Since.Equal(since.Truncate(time.Second)) || info.Accounts["home"].Problem {
		t.Fatalf("bridge/info push %+v, problem %v", pi, info.Accounts["home"].Problem)
	}

	h.apply(h.reg.handlePushStatus(pushStatusEvent{prov: home, status: cloud.PushStatus{Problem: "no message service", Since: since}}))
	if len(h.pushHealthy) != 2 || !h.pushHealthy[0] || h.pushHealthy[1] {
		t.Fatalf("push health told to the poller: %v, want true then false", h.pushHealthy)
	}
	if hc := h.reg.health(); hc["healthy"] != true {
		t.Fatalf("health %v: a push problem of an account that does not require push is not a problem", hc)
	}
	h.apply(h.reg.handlePushStatus(pushStatusEvent{prov: home, status: cloud.PushStatus{Problem: "no message service", Required: true, Since: since}}))
	hc := h.reg.health()
	ai := hc["accounts"].(map[string]accountInfo)["home"]
	if hc["healthy"] != false || !ai.Problem || ai.Push.Error != "no message service" || ai.Push.Connected {
		t.Fatalf("health %v: want unhealthy with the push error", hc)
	}
}

// While push is healthy the account is read at the reconcile interval;
// when it drops, the next read comes within the poll interval.
func TestPoller_ReconcileIntervalWhilePushIsHealthy(t *testing.T) {
	r := startPoller(t, &scriptedAccount{testProvider: *home}, time.Minute, time.Hour,
		func(p *poller) { p.push = newPushGate(10 * time.Minute) })

	r.expect("list", "read")
	r.p.push.set(true)
	r.intervalChanged() // taken in before the clock moves
	r.idle(2)
	r.clock.Advance(time.Minute) // the read scheduled before push was healthy
	r.expect("read")
	for range 2 { // then every 10 minutes, nothing in between
		r.idle(2)
		r.clock.Advance(9 * time.Minute)
		r.idle(2)
		r.clock.Advance(time.Minute)
		r.expect("read")
	}
	r.idle(2)
	r.clock.Advance(3 * time.Minute)
	r.idle(2)
	r.p.push.set(false) // lost: the next read is a minute away, not seven
	r.clock.WaitTimerAt(r.clock.Now().Add(time.Minute))
	r.clock.Advance(time.Minute)
	r.expect("read")
	r.idle(2)
	r.clock.Advance(time.Minute)
	r.expect("read")
}

// Device lists while push is healthy cost no reads: a list that finds the
// same devices keeps each one's next read where it was (a reconcile
// interval away), so a Tuya account pays for the lists only.
func TestPoller_ListsWhilePushIsHealthyCostNoReads(t *testing.T) {
	r := startPoller(t, &scriptedAccount{testProvider: *home}, time.Minute, 4*time.Minute,
		func(p *poller) { p.push = newPushGate(10 * time.Minute) })

	r.expect("list", "read")
	r.p.push.set(true)
	r.intervalChanged() // taken in before the clock moves
	r.idle(2)
	r.clock.Advance(time.Minute) // 1m: the read scheduled before push was healthy
	r.expect("read")
	r.idle(2)
	r.clock.Advance(3 * time.Minute) // 4m
	r.expect("list")
	r.idle(2)
	r.clock.Advance(4 * time.Minute) // 8m
	r.expect("list")
	r.idle(2)
	r.clock.Advance(3 * time.Minute) // 11m: the reconcile read
	r.expect("read")
	r.idle(2)
	r.clock.Advance(time.Minute) // 12m
	r.expect("list")
	r.idle(2)
}

func ptr[T any](v T) *T { return &v }

// A command's change pushed before its confirming read ends publishes one
// state message, not two identical ones (the demo's Tuya strip showed each
// switch twice to every subscriber); a confirming read that differs from
// what was pushed, and one with nothing pushed, are still published.
func TestPush_CommandChangePushedBeforeItsReadPublishedOnce(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", false))
	writes := func() int {
		n := 0
		for _, w := range h.pub.writes {
			if strings.HasPrefix(w, "kasa2mqtt/lamp=") {
				n++
			}
		}
		return n
	}
	push := func(on bool) {
		s := relayState("A", on)
		s.ReadAt = h.clock.Now()
		h.apply(h.reg.handlePush(pushEvent{prov: home, update: cloud.Update{Kind: cloud.UpdateState, DeviceID: "A", State: s}}))
	}
	command := func(payload string, pushed *bool, confirmed bool) int {
		before := writes()
		h.command("kasa2mqtt/lamp/set", payload)
		jobs := h.takeJobs()
		h.clock.Advance(time.Second)
		if pushed != nil {
			push(*pushed)
		}
		h.clock.Advance(time.Second)
		h.finish(jobs[0], resultEvent{state: ptr(relayState("A", confirmed)), started: h.clock.Now()})
		return writes() - before
	}
	on, off := true, false
	if n := command("ON", &on, true); n != 1 {
		t.Errorf("ON pushed, then confirmed: %d state messages, want 1", n)
	}
	if n := command("OFF", &off, true); n != 2 {
		t.Errorf("a push that the confirming read contradicts: %d state messages, want 2", n)
	}
	if n := command("ON", nil, true); n != 1 {
		t.Errorf("a command that changes nothing, nothing pushed: %d state messages, want 1 (the confirmation)", n)
	}
	if got := h.pub.retained["kasa2mqtt/lamp"]; !strings.Contains(got, `"state":"ON"`) {
		t.Fatalf("retained state %s, want ON", got)
	}
}
