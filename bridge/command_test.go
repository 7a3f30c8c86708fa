package bridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestParseCommandTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  commandTopic
		ok    bool
	}{
		{"kasa2mqtt/lamp/set", commandTopic{device: "lamp", verb: verbSet}, true},
		{"kasa2mqtt/lamp/set/state", commandTopic{device: "lamp", verb: verbSet, prop: "state"}, true},
		{"kasa2mqtt/lamp/set/led", commandTopic{device: "lamp", verb: verbSet, prop: "led"}, true},
		{"kasa2mqtt/lamp/get", commandTopic{device: "lamp", verb: verbGet}, true},
		{"kasa2mqtt/floor1/lamp/set", commandTopic{device: "floor1/lamp", verb: verbSet}, true},
		{"kasa2mqtt/lamp", commandTopic{}, false},              // our own state topic
		{"kasa2mqtt/lamp/availability", commandTopic{}, false}, // our own availability
		{"kasa2mqtt/set", commandTopic{}, false},               // no device
		{"kasa2mqtt//set", commandTopic{}, false},
		{"kasa2mqtt/lamp/set/", commandTopic{}, false},
		{"kasa2mqtt/lamp/set/a/b", commandTopic{}, false},
		{"other/lamp/set", commandTopic{}, false},
		{"kasa2mqttx/lamp/set", commandTopic{}, false},
	}
	for _, tt := range tests {
		got, ok := parseCommandTopic("kasa2mqtt", tt.topic)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseCommandTopic(%q) = %+v, %v; want %+v, %v", tt.topic, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSet(t *testing.T) {
	tests := []struct {
		name    string
		prop    string
		payload string
		want    setRequest
		wantErr string
	}{
		{"plain on", "", "ON", setRequest{state: switchOn}, ""},
		{"plain lower case with blanks", "", "  off\n", setRequest{state: switchOff}, ""},
		{"toggle", "", "toggle", setRequest{state: switchToggle}, ""},
		{"json state", "", `{"state":"ON"}`, setRequest{state: switchOn}, ""},
		{"json case-insensitive", "", `{"State":"oFF"}`, setRequest{state: switchOff}, ""},
		{"json bool", "", `{"state":true}`, setRequest{state: switchOn}, ""},
		{"json led and state", "", `{"state":"on","led":"off"}`, setRequest{state: switchOn, led: switchOff}, ""},
		{"json restart", "", `{"restart":true}`, setRequest{restart: true}, ""},
		{"set/state", "state", "TOGGLE", setRequest{state: switchToggle}, ""},
		{"set/led", "led", "on", setRequest{led: switchOn}, ""},
		{"set/restart press", "restart", "PRESS", setRequest{restart: true}, ""},
		{"garbage", "", "maybe", setRequest{}, `expected ON, OFF or TOGGLE, got "maybe"`},
		{"empty", "", "", setRequest{}, "empty payload"},
		{"blank", "", " ", setRequest{}, "expected ON, OFF or TOGGLE"},
		{"set/restart empty (the clear of a retained one)", "restart", "", setRequest{}, "empty payload"},
		{"bad json", "", `{"state":`, setRequest{}, "invalid JSON"},
		{"json wrong type", "", `{"state":5}`, setRequest{}, `"state" must be`},
		{"json unknown key", "", `{"effect":"rainbow"}`, setRequest{}, `unknown key "effect"`},
		{"json array", "", `[1,2]`, setRequest{}, "expected ON, OFF or TOGGLE"},
		{"json empty object", "", `{}`, setRequest{}, "nothing to do"},
		{"unknown prop", "colour", "red", setRequest{}, `unknown property "colour"`},
		{"huge", "", strings.Repeat("A", maxPayload+1), setRequest{}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := parseSetCase(t, tt.prop, tt.payload, tt.wantErr); ok && got != tt.want {
				t.Fatalf("parseSet(%q, %q) = %+v; want %+v", tt.prop, tt.payload, got, tt.want)
			}
		})
	}
}

// TestParseSet_SameErrorEveryTime: a JSON /set with several bad keys is
// refused for the same key (the first in sorted order) every time, so a
// user who fixes one and retries is not shown another at random.
func TestParseSet_SameErrorEveryTime(t *testing.T) {
	for _, payload := range []string{
		`{"zeta":1,"effect":"rainbow","alpha":2,"flash":1}`,
		`{"state":"ON","transition":9999,"brightness":300,"color_temp":0}`,
	} {
		var first string
		for i := range 50 {
			_, err := parseSet("", []byte(payload))
			if err == nil {
				t.Fatalf("parseSet(%q) accepted it", payload)
			}
			if i == 0 {
				first = err.Error()
			} else if err.Error() != first {
				t.Fatalf("parseSet(%q) refused it for %q, then for %q", payload, first, err)
			}
		}
	}
	if _, err := parseSet("", []byte(`{"zeta":1,"alpha":2}`)); err == nil || !strings.Contains(err.Error(), `unknown key "alpha"`) {
		t.Errorf("error %v, want the first key in order, \"alpha\"", err)
	}
}

// parseSetCase runs parseSet and fails t unless it returns an error
// containing wantErr (a bad payload error), or none when wantErr is "";
// ok says a request came back to compare.
func parseSetCase(t *testing.T, prop, payload, wantErr string) (req setRequest, ok bool) {
	t.Helper()
	got, err := parseSet(prop, []byte(payload))
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr) || !errors.Is(err, errBadPayload)):
		t.Fatalf("parseSet(%q, %q) error = %v, want one containing %q", prop, payload, err, wantErr)
	case wantErr == "" && err != nil:
		t.Fatalf("parseSet(%q, %q): %v", prop, payload, err)
	}
	return got, wantErr == ""
}

func TestQuotePayloadBoundsLogLines(t *testing.T) {
	q := quotePayload([]byte(strings.Repeat("x", 5000)))
	if len(q) > 260 || !strings.Contains(q, "5000 bytes") {
		t.Fatalf("quotePayload of 5000 bytes = %d chars %q", len(q), q[:40])
	}
	if q := quotePayload([]byte{0xff, 0x00, 'a'}); q != `"\xff\x00a"` {
		t.Fatalf("binary payload quoted as %s", q)
	}
}

func FuzzParseCommandTopic(f *testing.F) {
	for _, s := range []string{"kasa2mqtt/lamp/set", "kasa2mqtt/a/b/set/led", "kasa2mqtt/x/get", "kasa2mqtt/#", "kasa2mqtt/+/set", "kasa2mqtt/ünï/set/state", "kasa2mqtt/\x00/set"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		ct, ok := parseCommandTopic("kasa2mqtt", topic)
		if !ok {
			return
		}
		if ct.device == "" || (ct.verb != verbSet && ct.verb != verbGet) {
			t.Fatalf("accepted %q as %+v", topic, ct)
		}
		if !strings.HasPrefix(topic, "kasa2mqtt/"+ct.device+"/") {
			t.Fatalf("device %q is not the topic's prefix in %q", ct.device, topic)
		}
	})
}

func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"ON", "off", "TOGGLE", `{"state":"ON"}`, `{"led":true,"restart":"PRESS"}`, `{"state":{"a":[[[[1]]]]}}`, "\xff\xfe", `{"state":null}`,
		`{"state":"ON","brightness":128,"color_temp":2700,"transition":1.5}`, `{"color":{"h":120,"s":60}}`, `{"brightness":"1e400"}`, "120,50", "2700", "-0", `{"color":{"h":"NaN","s":1}}`} {
		f.Add("", []byte(s))
		f.Add("led", []byte(s))
		f.Add("brightness", []byte(s))
		f.Add("color", []byte(s))
	}
	f.Fuzz(func(t *testing.T, prop string, payload []byte) {
		req, err := parseSet(prop, payload)
		if err == nil && req.empty() {
			t.Fatalf("parseSet(%q, %q) accepted a request that does nothing", prop, payload)
		}
		if err != nil && !errors.Is(err, errBadPayload) {
			t.Fatalf("unclassified error %v", err)
		}
		if err != nil {
			return
		}
		// What the parser accepts, a light takes or refuses with a bad
		// payload error; never a panic, never a value outside its range.
		for _, d := range []cloud.Device{colorBulb("B", "Bulb"), dimmer("D", "Dimmer")} {
			cmd, err := lightCommand(d, req, cloud.Bool(true))
			if err != nil {
				if !errors.Is(err, errBadPayload) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			if cloud.CheckLight(d, cmd) != nil {
				t.Fatalf("lightCommand(%q, %q) = %v, which %s does not take", prop, payload, cmd, d.Model)
			}
			if b := cmd.Light.Brightness; b != nil && (*b <= 0 || *b > 100) {
				t.Fatalf("brightness %v %% from %q", *b, payload)
			}
		}
	})
}
