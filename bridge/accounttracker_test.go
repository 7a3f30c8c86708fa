package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestErrorStatus(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("v: %w", cloud.ErrAuth):        statusAuthError,
		fmt.Errorf("v: %w", cloud.ErrRateLimited): statusRateLimited,
		fmt.Errorf("v: %w", cloud.ErrUnavailable): statusError,
		errors.New("anything"):                    statusError,
	} {
		if got := errorStatus(err); got != want {
			t.Errorf("errorStatus(%v) = %s, want %s", err, got, want)
		}
	}
}

// An account's errors: announced once per distinct error (event, log,
// bridge/info), devices offline on an authentication error, readiness
// reached by a reported failure, and one recovery line and event.
func TestRegistry_AccountErrors(t *testing.T) {
	office := &testProvider{kind: "kasa", account: "office"}
	h := newHarness(t, Options{}, nil, home, office)
	if !slices.Equal(h.waiting, []string{"home", "office"}) {
		t.Fatalf("waiting for %v at start", h.waiting)
	}
	h.list(home, plug("A", "Lamp", true))
	if !slices.Equal(h.waiting, []string{"office"}) {
		t.Errorf("waiting for %v after home listed", h.waiting)
	}

	auth := fmt.Errorf("vendor: token refused: %w", cloud.ErrAuth)
	h.clock.Advance(time.Minute)
	h.listFails(office, auth)
	h.listFails(office, auth)
	h.listFails(home, auth)
	h.listFails(home, auth)
	if len(h.waiting) != 0 {
		t.Errorf("still waiting for %v after reported failures", h.waiting)
	}
	if got := h.eventTypes(); !slices.Equal(got, []string{"device_added", "account_error", "account_error"}) {
		t.Errorf("events %v", got)
	}
	if n := h.logged("cloud account error; devices will show unavailable until it recovers"); n != 2 {
		t.Errorf("account error logged %d times, want once per account", n)
	}
	if got := h.pub.retained["kasa2mqtt/lamp/availability"]; got != `{"state":"offline"}` {
		t.Errorf("availability after an authentication failure: %s", got)
	}
	var info bridgeInfo
	if err := json.Unmarshal([]byte(h.pub.retained["kasa2mqtt/bridge/info"]), &info); err != nil {
		t.Fatal(err)
	}
	ai := info.Accounts["home"]
	if ai.Status != statusAuthError || !ai.Problem || ai.LastError != auth.Error() || ai.LastErrorAt == nil || !ai.LastErrorAt.Equal(h.clock.Now()) {
		t.Errorf("bridge/info account %+v", ai)
	}
	if health := h.request("health_check", "")[0]; health.Data.(map[string]any)["healthy"] != false {
		t.Errorf("health_check %+v", health.Data)
	}

	// A different error is announced again; a failed read of every device
	// is the account's, not the devices'.
	busy := fmt.Errorf("no device could be read: %w", cloud.ErrUnavailable)
	h.apply(h.reg.handleStates(statesEvent{prov: home, ids: []string{"A"}, err: busy, started: h.clock.Now()}))
	if got := h.eventTypes(); len(got) != 4 || got[3] != "account_error" || h.logged("cannot read device") != 0 {
		t.Errorf("events %v, device errors logged %d", got, h.logged("cannot read device"))
	}

	h.clock.Advance(time.Minute)
	h.list(home, plug("A", "Lamp", true))
	h.poll(home, h.clock.Now(), relayState("A", true))
	if got := h.eventTypes(); got[len(got)-1] != "account_recovered" {
		t.Errorf("events %v", got)
	}
	recovered := h.logs.FilterMessage("cloud account recovered").All()
	if len(recovered) != 1 || recovered[0].ContextMap()["after"] != time.Minute || recovered[0].ContextMap()["failed_calls"] != int64(3) {
		t.Errorf("recovery logged %+v", recovered)
	}
	if got := h.pub.retained["kasa2mqtt/lamp/availability"]; got != `{"state":"online"}` {
		t.Errorf("availability after the recovery: %s", got)
	}
}

// The tail of an outage (reads under way when the cloud came back) is not
// logged per device.
func TestRegistry_TheTailOfAnOutageIsTheAccounts(t *testing.T) {
	h := newHarness(t, Options{}, nil, home)
	h.list(home, plug("A", "Lamp", true), plug("B", "Fan", true))
	h.apply(h.reg.handleStates(statesEvent{prov: home, ids: []string{"A", "B"}, err: fmt.Errorf("v: %w", cloud.ErrTimeout)}))
	tail := relayState("A", true)
	tail.Err = fmt.Errorf("v: %w", cloud.ErrTimeout)
	h.poll(home, h.clock.Now(), tail, relayState("B", true))
	if n := h.logged("cannot read device"); n != 0 {
		t.Errorf("the outage's tail was logged per device (%d lines)", n)
	}
	h.poll(home, h.clock.Now(), tail, relayState("B", true))
	if n := h.logged("cannot read device"); n != 1 {
		t.Errorf("a device failing after the recovery logged %d lines, want 1", n)
	}
}

// Options.Advise words an account's error for people: bridge/info, the
// event and the log show its advice; the status still follows the error.
func TestRegistry_AccountErrorsCarryTheAdvice(t *testing.T) {
	advise := func(p cloud.Provider, err error) error { return fmt.Errorf("%w (log %s in again)", err, p.Account()) }
	h := newHarness(t, Options{Advise: advise}, nil, home)
	h.listFails(home, fmt.Errorf("vendor: %w", cloud.ErrAuth))
	var info bridgeInfo
	if err := json.Unmarshal([]byte(h.pub.retained["kasa2mqtt/bridge/info"]), &info); err != nil {
		t.Fatal(err)
	}
	want := "vendor: " + cloud.ErrAuth.Error() + " (log home in again)"
	if ai := info.Accounts["home"]; ai.LastError != want || ai.Status != statusAuthError {
		t.Errorf("bridge/info account %+v, want error %q", ai, want)
	}
	if e := h.pub.events[0]; e.Type != "account_error" || !strings.Contains(string(e.Data), "(log home in again)") {
		t.Errorf("event %s %s", e.Type, e.Data)
	}
}
