package discovery

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Home Assistant's JSON schema light has no value templates: it parses the
// state payload itself (homeassistant/components/mqtt/light/schema_json.py,
// _state_received). parseJSONLight does what it does, so the golden test
// can show what each light makes of the payloads the bridge publishes,
// and of the ones it must never publish on a light's state topic.

// jsonLightResult is what Home Assistant's JSON light makes of a payload:
// the state it shows, or the error (logged at ERROR, the update lost) or
// warning it logs.
type jsonLightResult struct {
	out      string
	err      string
	warnings []string
}

func (r jsonLightResult) String() string {
	s := r.out
	if r.err != "" {
		s = "ERROR " + r.err
	}
	for _, w := range r.warnings {
		s += " WARNING " + w
	}
	return s
}

// parseJSONLight applies payload to a JSON light with the given
// supported_color_modes, as Home Assistant does.
func parseJSONLight(modes []string, payload string) jsonLightResult {
	var res jsonLightResult
	var values map[string]any
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil || values == nil || dec.More() {
		res.err = "JSONDecodeError or not an object (json_loads_object)"
		return res
	}
	st, ok := values["state"]
	switch {
	case !ok:
		res.err = "KeyError: 'state'"
		return res
	case st == "ON", st == "OFF":
		res.out = "state=" + st.(string)
	case st == nil:
		res.out = "state=unknown"
	default:
		res.out = "state unchanged"
	}
	if m, ok := values["color_mode"]; ok {
		mode, _ := m.(string)
		color, _ := values["color"].(map[string]any)
		switch {
		case !slices.Contains(modes, mode):
			res.warnings = append(res.warnings, fmt.Sprintf("Invalid color mode '%v'", m))
		case mode == ColorModeTemp:
			if k, ok := pyInt(values["color_temp"]); ok {
				res.out += " color_temp=" + strconv.Itoa(k) + "K"
			} else {
				res.warnings = append(res.warnings, "Invalid or incomplete color value")
			}
		case mode == ColorModeHS:
			h, ok1 := pyFloat(color["h"])
			s, ok2 := pyFloat(color["s"])
			if !ok1 || !ok2 {
				res.warnings = append(res.warnings, "Invalid or incomplete color value")
			} else {
				res.out += fmt.Sprintf(" hs=(%g, %g)", h, s)
			}
		default:
			res.out += " mode=" + mode
		}
	}
	if slices.ContainsFunc(modes, func(m string) bool { return m != ColorModeOnOff }) {
		if b, ok := values["brightness"]; ok {
			f, ok := pyFloat(b)
			switch {
			case !ok:
				res.warnings = append(res.warnings, "Invalid brightness value received")
			case f != 0:
				res.out += " brightness=" + strconv.Itoa(int(math.Round(f)))
			}
		}
	}
	return res
}

// pyInt is Python's int() of a JSON value: numbers (truncated) and
// strings of digits.
func pyInt(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return int(f), err == nil
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(x))
		return i, err == nil
	}
	return 0, false
}

// pyFloat is Python's float() of a JSON value.
func pyFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// lightSamples are the state payloads the bridge publishes for a light
// with the given modes (bridge/statepayload.go: every one carries
// "state"; color_mode is one of the light's modes, with its value).
func lightSamples(modes []string) []string {
	var out []string
	for _, m := range modes {
		switch m {
		case ColorModeTemp:
			out = append(out, `{"state":"ON","brightness":77,"color_mode":"color_temp","color_temp":2700,"power":5.4,"energy":0.012,"rssi":-52}`)
		case ColorModeHS:
			out = append(out, `{"state":"ON","brightness":204,"color_mode":"hs","color":{"h":120,"s":60}}`)
		case ColorModeBrightness:
			out = append(out, `{"state":"ON","brightness":128,"color_mode":"brightness","led":"ON","rssi":-40}`)
		case ColorModeOnOff:
			out = append(out, `{"state":"ON","color_mode":"onoff"}`)
		}
	}
	// Off, with the colour it comes back with.
	last := strings.Replace(out[len(out)-1], `"state":"ON"`, `"state":"OFF"`, 1)
	return append(out, last, `{"state":"OFF"}`)
}

// writeJSONLights adds the JSON light section to the golden file and
// checks that every payload the bridge publishes is read without an error
// or a warning, with its state and the values it carries.
func writeJSONLights(t *testing.T, golden *strings.Builder) {
	byModes := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(fixtures)) {
		p := decode(t, mustPayload(t, testConfig, fixtures[name]))
		if l, ok := p.Components["light"]; ok {
			key := strings.Join(l.SupportedColorModes, ",")
			byModes[key] = append(byModes[key], name+" light")
		}
	}
	golden.WriteString("\n# JSON schema lights: no value template; Home Assistant parses the state\n" +
		"# payload itself. The bridge publishes the first payloads (every one with\n" +
		"# \"state\"); the others show why it never publishes anything else on a\n" +
		"# light's state topic while the light is discovered (a clear comes after\n" +
		"# the discovery that removes the light).\n")
	for _, key := range slices.Sorted(maps.Keys(byModes)) {
		modes := strings.Split(key, ",")
		fmt.Fprintf(golden, "\nlight: supported_color_modes %v\nused by: %s\n", modes, strings.Join(byModes[key], ", "))
		for _, p := range lightSamples(modes) {
			res := parseJSONLight(modes, p)
			fmt.Fprintf(golden, "  %-60s => %s\n", strconv.Quote(p), res)
			if res.err != "" || len(res.warnings) > 0 || !strings.HasPrefix(res.out, "state=O") {
				t.Errorf("light %v: the bridge's payload %s gives %s", modes, p, res)
			}
			var v map[string]any
			_ = json.Unmarshal([]byte(p), &v)
			if _, ok := v["color_mode"]; ok && !strings.Contains(res.out, " ") {
				t.Errorf("light %v: %s carries a color mode but Home Assistant read no value from it: %s", modes, p, res)
			}
		}
		golden.WriteString("  never published:\n")
		for _, p := range []string{"", "not json", `"ON"`, "{}", `{"brightness":128}`, `{"state":"ON","color_mode":"xy"}`} {
			fmt.Fprintf(golden, "  %-60s => %s\n", strconv.Quote(p), parseJSONLight(modes, p))
		}
	}
}

// TestParseJSONLight: the parser reports what Home Assistant reports.
func TestParseJSONLight(t *testing.T) {
	for _, tc := range []struct {
		modes   []string
		payload string
		want    string
	}{
		{[]string{"hs"}, "", "ERROR JSONDecodeError or not an object (json_loads_object)"},
		{[]string{"hs"}, `{"brightness":3}`, "ERROR KeyError: 'state'"},
		{[]string{"hs"}, `{"state":"ON","color_mode":"hs","color":{"h":1}}`, "state=ON WARNING Invalid or incomplete color value"},
		{[]string{"brightness"}, `{"state":"ON","color_mode":"hs"}`, "state=ON WARNING Invalid color mode 'hs'"},
		{[]string{"color_temp"}, `{"state":null,"color_mode":"color_temp","color_temp":2700,"brightness":0}`, "state=unknown color_temp=2700K"},
		{[]string{"brightness"}, `{"state":"OFF","brightness":"x"}`, "state=OFF WARNING Invalid brightness value received"},
	} {
		if got := parseJSONLight(tc.modes, tc.payload).String(); got != tc.want {
			t.Errorf("%v %s: %s, want %s", tc.modes, tc.payload, got, tc.want)
		}
	}
}
