package kasatest_test

import (
	"net/http"
	"slices"
	"testing"
)

func TestServer_RelayHistoryRecordsOnlyAppliedSets(t *testing.T) {
	s := newServer(t)
	plug := s.AddPlug("u@example.com", "Lamp", "HS103(US)")
	strip, outlets := s.AddStrip("u@example.com", "Strip", "HS300(US)", 2, false)
	token, _ := login(t, s)
	set := func(id string, on int, ctx ...string) {
		req := map[string]any{"system": map[string]any{"set_relay_state": map[string]any{"state": on}}}
		if len(ctx) > 0 {
			req["context"] = map[string]any{"child_ids": ctx}
		}
		passthrough(t, s, token, id, req)
	}
	set(plug, 1)
	s.FailNext("passthrough", 1, -20002)
	set(plug, 0) // refused by the cloud: not applied
	s.FailHTTP(1, http.StatusBadGateway)
	if _, status := post(t, s, s.URL(), "application/json", `{"method":"passthrough"}`); status != http.StatusBadGateway {
		t.Fatalf("FailHTTP: %d", status)
	}
	s.SetOnline(plug, false)
	set(plug, 0) // offline: not applied
	s.SetOnline(plug, true)
	s.SetRelay(plug, false) // the app, not a request
	set(plug, 0)
	set(strip, 1, outlets[1])
	set(strip, 0) // every outlet

	if got, want := s.RelayHistory(plug), []bool{true, false}; !slices.Equal(got, want) {
		t.Errorf("plug history = %v, want %v", got, want)
	}
	if got, want := s.RelayHistory(outlets[0]), []bool{false}; !slices.Equal(got, want) {
		t.Errorf("outlet 0 history = %v, want %v", got, want)
	}
	if got, want := s.RelayHistory(outlets[1]), []bool{true, false}; !slices.Equal(got, want) {
		t.Errorf("outlet 1 history = %v, want %v", got, want)
	}
}
