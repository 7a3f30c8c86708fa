package bridge

import (
	"fmt"
	"slices"
	"testing"
)

// sinkRecorder is the outbox as the publisher sees it.
type sinkRecorder struct{ msgs []message }

func (s *sinkRecorder) put(m message) { s.msgs = append(s.msgs, m) }

// take returns "topic=payload" (with " (retained)" when retained) of what
// was put since the last call.
func (s *sinkRecorder) take() []string {
	var out []string
	for _, m := range s.msgs {
		line := m.topic + "=" + string(m.payload)
		if m.retained {
			line += " (retained)"
		}
		out = append(out, line)
	}
	s.msgs = nil
	return out
}

func newTestPublisher(output string, connected *bool) (*mqttPublisher, *sinkRecorder) {
	s := &sinkRecorder{}
	return newMQTTPublisher(s, "k", output, true, func() bool { return *connected }), s
}

// Retained topics are published again only when their bytes change or the
// publication is forced; clears are remembered.
func TestPublisher_DedupAndClears(t *testing.T) {
	connected := true
	p, s := newTestPublisher(OutputJSON, &connected)
	p.retain("ha/x/config", []byte("A"), false)
	p.retain("ha/x/config", []byte("A"), false)
	p.retain("ha/x/config", []byte("A"), true)
	p.retain("ha/x/config", []byte("B"), false)
	p.state("lamp", []byte(`{"state":"ON"}`), false)
	p.state("lamp", []byte(`{"state":"ON"}`), false)
	p.clear("lamp", "ha/x/config")
	p.state("lamp", []byte(`{"state":"ON"}`), false) // cleared: published again
	want := []string{"ha/x/config=A (retained)", "ha/x/config=A (retained)", "ha/x/config=B (retained)",
		`k/lamp={"state":"ON"} (retained)`,
		"ha/x/config= (retained)", "k/lamp= (retained)", "k/lamp/availability= (retained)",
		`k/lamp={"state":"ON"} (retained)`}
	if got := s.take(); !slices.Equal(got, want) {
		t.Errorf("published\n %q\nwant\n %q", got, want)
	}
}

// Attribute output publishes one topic per value (all of them whenever the
// state changed) and clears them with the device.
func TestPublisher_AttributeOutput(t *testing.T) {
	connected := true
	for _, tc := range []struct {
		output string
		want   []string
	}{
		{OutputAttribute, []string{"k/p/state=ON (retained)", "k/p/power=5 (retained)",
			"k/p/state=ON (retained)", "k/p/power=6 (retained)"}},
		{OutputAttributeAndJSON, []string{`k/p={"state":"ON","power":5} (retained)`, "k/p/state=ON (retained)", "k/p/power=5 (retained)",
			`k/p={"state":"ON","power":6} (retained)`, "k/p/state=ON (retained)", "k/p/power=6 (retained)"}},
	} {
		p, s := newTestPublisher(tc.output, &connected)
		p.state("p", []byte(`{"state":"ON","power":5}`), false)
		p.state("p", []byte(`{"state":"ON","power":5}`), false)
		p.state("p", []byte(`{"state":"ON","power":6}`), false)
		if got := s.take(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: published\n %q\nwant\n %q", tc.output, got, tc.want)
		}
		p.clear("p", "")
		if got := s.take(); len(got) != 2+len(stateKeys) {
			t.Errorf("%s: clear published %q, want state, availability and every value topic", tc.output, got)
		}
	}
}

// The replay's order: bridge state, the discovery topics cleared during
// this run, discovery, availability, offline for known devices not listed
// yet, states, bridge/devices, the bridge's discovery, bridge/info, the
// other topics cleared during this run (after the discovery that moved
// Home Assistant's entities off them), then the events held while
// disconnected.
func TestPublisher_ReplayOrder(t *testing.T) {
	connected := false
	p, s := newTestPublisher(OutputJSON, &connected)
	p.clear("gone", "ha/gone/config")
	p.clear("moved", "")
	p.state("moved", []byte("m"), false) // a device holds it again: not cleared
	p.clear("was", "")                   // a renamed device's old topics
	p.event([]byte("e1"))                // not connected: held
	connected = true
	p.event([]byte("e2")) // connected, but held behind e1
	p.send("k/bridge/response/info", []byte("r"))
	s.take()

	p.replay(replaySet{
		discovery:    []message{{topic: "ha/strip/config", payload: []byte("d1")}, {topic: "ha/outlet/config", payload: []byte("d2")}},
		availability: []message{{topic: "k/strip/availability", payload: []byte("on")}},
		offline:      []message{{topic: "k/old/availability", payload: []byte("off")}},
		states:       []message{{topic: "strip", payload: []byte("s")}},
		devices:      []byte("list"),
		bridgeConfig: &message{topic: "ha/bridge/config", payload: []byte("b")},
		info:         []byte("info"),
	})
	want := []string{`k/bridge/state={"state":"online"} (retained)`, "ha/gone/config= (retained)",
		"ha/strip/config=d1 (retained)", "ha/outlet/config=d2 (retained)", "k/strip/availability=on (retained)",
		"k/old/availability=off (retained)", "k/strip=s (retained)", "k/bridge/devices=list (retained)",
		"ha/bridge/config=b (retained)", "k/bridge/info=info (retained)",
		"k/gone= (retained)", "k/gone/availability= (retained)", "k/moved/availability= (retained)",
		"k/was= (retained)", "k/was/availability= (retained)",
		"k/bridge/event=e1", "k/bridge/event=e2"}
	if got := s.take(); !slices.Equal(got, want) {
		t.Errorf("replayed\n %q\nwant\n %q", got, want)
	}
	// Held events went out once; later events are sent at once.
	p.event([]byte("e3"))
	p.replay(replaySet{devices: []byte("list")})
	if got := s.take(); got[0] != "k/bridge/event=e3" || slices.Contains(got, "k/bridge/event=e1") {
		t.Errorf("after the replay: %q", got)
	}
}

// At most maxHeldEvents are held; the oldest go first.
func TestPublisher_HeldEventsAreBounded(t *testing.T) {
	connected := false
	p, s := newTestPublisher(OutputJSON, &connected)
	for i := range maxHeldEvents + 5 {
		p.event(fmt.Appendf(nil, "%d", i))
	}
	connected = true
	p.replay(replaySet{})
	var events []string
	for _, m := range s.msgs {
		if m.topic == "k/bridge/event" {
			events = append(events, string(m.payload))
		}
	}
	if len(events) != maxHeldEvents || events[0] != "5" || events[len(events)-1] != fmt.Sprint(maxHeldEvents+4) {
		t.Errorf("%d events sent, %s … %s", len(events), events[0], events[len(events)-1])
	}
}

// A discovery message reaches the outbox with its stubs (for the
// acknowledgement), deduplicated like any retained topic, from a replay
// too.
func TestPublisher_DiscoveryCarriesItsRemoval(t *testing.T) {
	connected := true
	p, s := newTestPublisher(OutputJSON, &connected)
	rm := &removal{key: "kasa/D", seq: 1, ids: []string{"switch"}}
	m := message{topic: "ha/device/kasa_D/config", payload: []byte("d"), removal: rm}
	p.announce(m, false)
	p.announce(m, false) // unchanged: not again
	p.replay(replaySet{discovery: []message{m}})
	var got []*removal
	for _, out := range s.msgs {
		if out.topic == m.topic {
			if !out.retained {
				t.Error("discovery published without the retain flag")
			}
			got = append(got, out.removal)
		}
	}
	if len(got) != 2 || got[0] != rm || got[1] != rm {
		t.Errorf("discovery messages carried %v, want the removal twice (announce, replay)", got)
	}
}
