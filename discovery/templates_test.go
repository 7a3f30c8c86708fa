package discovery

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A value template in a discovery payload, with what Home Assistant does
// with its result.
type usedTemplate struct {
	tpl   string
	topic string // the topic it reads
	valid func(string) bool
	kind  string // describes valid for the golden file
	users []string
}

// Sample payloads the bridge publishes on each kind of topic.
var samplePayloads = map[string]string{
	"state":        `{"state":"ON","led":"OFF","power":12.5,"voltage":230.1,"current":0.054,"energy":1.234,"rssi":-60}`,
	"availability": `{"state":"online"}`,
	"bridge/info":  `{"version":"1.2.3","accounts":{"home":{"problem":false,"calls_today":12,"calls":{"day":12,"month":340,"budget":"none"}},"office-tuya":{"problem":true,"calls_today":0,"calls":{"day":0,"month":2210,"budget":"30000/month","left":27790}}}}`,
}

func topicKind(topic string) string {
	switch {
	case strings.HasSuffix(topic, "/availability"), strings.HasSuffix(topic, "/bridge/state"):
		return "availability"
	case strings.HasSuffix(topic, "/bridge/info"):
		return "bridge/info"
	}
	return "state"
}

// collectTemplates returns every value template of every component (and
// availability entry) of every fixture and of the bridge, deduplicated.
func collectTemplates(t *testing.T) []*usedTemplate {
	t.Helper()
	payloads := map[string][]byte{}
	for name, d := range fixtures {
		payloads[name] = mustPayload(t, testConfig, d)
	}
	bridge, err := BridgePayload(testConfig, Bridge{Accounts: []string{"home", "office-tuya"}})
	if err != nil {
		t.Fatal(err)
	}
	payloads["bridge"] = bridge

	byKey := map[string]*usedTemplate{}
	add := func(tpl, topic, kind string, valid func(string) bool, user string) {
		key := tpl + "\x00" + topicKind(topic) + "\x00" + kind
		u := byKey[key]
		if u == nil {
			u = &usedTemplate{tpl: tpl, topic: topic, valid: valid, kind: kind}
			byKey[key] = u
		}
		if !slices.Contains(u.users, user) {
			u.users = append(u.users, user)
		}
	}
	availability := func(list []map[string]string, user string) {
		for _, a := range list {
			// HA ignores availability payloads other than online/offline.
			add(a["value_template"], a["topic"], `availability: "online" or "offline", anything else is ignored`, func(string) bool { return true }, user+" availability")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(payloads)) {
		var p struct {
			Availability []map[string]string `json:"availability"`
			StateTopic   string              `json:"state_topic"`
			Components   map[string]struct {
				Platform     string              `json:"platform"`
				StateTopic   string              `json:"state_topic"`
				Template     string              `json:"value_template"`
				On           string              `json:"payload_on"`
				Off          string              `json:"payload_off"`
				StateOn      string              `json:"state_on"`
				StateOff     string              `json:"state_off"`
				Unit         string              `json:"unit_of_measurement"`
				StateClass   string              `json:"state_class"`
				Availability []map[string]string `json:"availability"`
			} `json:"components"`
		}
		if err := json.Unmarshal(payloads[name], &p); err != nil {
			t.Fatal(err)
		}
		availability(p.Availability, name)
		for _, id := range slices.Sorted(maps.Keys(p.Components)) {
			c := p.Components[id]
			user := name + " " + id
			availability(c.Availability, user)
			if c.Template == "" {
				continue
			}
			topic := c.StateTopic
			if topic == "" {
				topic = p.StateTopic
			}
			switch {
			case c.Platform == "switch":
				add(c.Template, topic, fmt.Sprintf("switch: %q, %q, \"None\" or \"\"", c.StateOn, c.StateOff), oneOf(c.StateOn, c.StateOff, "None"), user)
			case c.Platform == "binary_sensor":
				add(c.Template, topic, fmt.Sprintf("binary_sensor: %q, %q, \"None\" or \"\"", c.On, c.Off), oneOf(c.On, c.Off, "None"), user)
			case c.Platform == "sensor" && (c.Unit != "" || c.StateClass != ""):
				add(c.Template, topic, `numeric sensor: a number, "None" or ""`, isNumberOrNone, user)
			case c.Platform == "light":
				t.Fatalf("%s: a JSON schema light has no value template (see writeJSONLights)", user)
			case c.Platform == "sensor":
				add(c.Template, topic, "text sensor: any text", func(string) bool { return true }, user)
			default:
				t.Fatalf("%s: no rule for platform %q", user, c.Platform)
			}
		}
	}
	out := slices.Collect(maps.Values(byKey))
	slices.SortFunc(out, func(a, b *usedTemplate) int {
		return strings.Compare(a.tpl+a.kind, b.tpl+b.kind)
	})
	return out
}

func oneOf(values ...string) func(string) bool {
	return func(s string) bool { return s == "" || slices.Contains(values, s) }
}

func isNumberOrNone(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return s == "" || s == "None" || err == nil
}

// keyPath returns the keys of the longest value_json chain in tpl.
func keyPath(t *testing.T, tpl string) []string {
	t.Helper()
	n, err := parseTemplate(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var best []string
	var walk func(n *node)
	chain := func(n *node) ([]string, bool) {
		var keys []string
		for n.kind == "attr" || n.kind == "item" {
			keys = append([]string{n.s}, keys...)
			n = n.kids[0]
		}
		return keys, n.kind == "name" && n.s == "value_json"
	}
	walk = func(n *node) {
		if keys, ok := chain(n); ok && len(keys) > len(best) {
			best = keys
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(n)
	return best
}

// nested returns {"k0":{"k1":...leaf}} for keys.
func nested(keys []string, leaf any) any {
	v := leaf
	for i := len(keys) - 1; i >= 0; i-- {
		v = map[string]any{keys[i]: v}
	}
	return v
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// hostilePayloads are what the template must survive without an error or
// a warning and with a result its entity accepts: an empty payload (a
// cleared topic), payloads that are not JSON, JSON that is not an object,
// and JSON lacking each key on the way, or holding the wrong type where
// an object is expected.
func hostilePayloads(keys []string) []string {
	out := []string{"", "not json", "ON", "{", `"ON"`, "5", "null", "[]", "true", "{}"}
	for i := range keys {
		out = append(out, mustJSON(nested(keys[:i], map[string]any{"other": 1})))
		if i < len(keys)-1 {
			for _, wrong := range []any{5, "x", nil, []any{}} {
				out = append(out, mustJSON(nested(keys[:i+1], wrong)))
			}
		}
	}
	return out
}

// TestTemplates_Golden renders every value template of every component
// against an empty payload, payloads that are not JSON, JSON lacking each
// key, and the payload the bridge really publishes, under Home Assistant's
// rules (jinja_test.go): none may raise a template error or log a warning,
// every result must be one the entity accepts ("" is ignored), and the
// real payload must give a value. The table is pinned in
// testdata/templates.golden (run with -update to rewrite).
func TestTemplates_Golden(t *testing.T) {
	var golden strings.Builder
	golden.WriteString("# Every value template of the discovery payloads, rendered as Home Assistant\n" +
		"# would (see jinja_test.go) against hostile payloads and the real one.\n" +
		"# Generated by TestTemplates_Golden; run go test -update to rewrite.\n")
	for _, u := range collectTemplates(t) {
		keys := keyPath(t, u.tpl)
		if len(keys) == 0 {
			t.Errorf("template %q reads no value_json key", u.tpl)
		}
		fmt.Fprintf(&golden, "\ntemplate: %s\naccepted: %s\nused by: %s\n", u.tpl, u.kind, strings.Join(u.users, ", "))
		check := func(payload string, mustHaveValue bool) {
			res, err := render(u.tpl, payload)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&golden, "  %-60s => %s\n", strconv.Quote(payload), res)
			switch {
			case res.err != nil || len(res.warnings) > 0:
				t.Errorf("%s\n  on payload %q: %s", u.tpl, payload, res)
			case !u.valid(res.out):
				t.Errorf("%s\n  on payload %q renders %q, which %s does not accept", u.tpl, payload, res.out, u.kind)
			case mustHaveValue && res.out == "":
				t.Errorf("%s\n  renders nothing for the real payload %s", u.tpl, payload)
			}
		}
		for _, p := range hostilePayloads(keys) {
			check(p, false)
		}
		check(samplePayloads[topicKind(u.topic)], true)
		// A null leaf: "None" sets switches and sensors to unknown.
		check(mustJSON(nested(keys, nil)), false)
	}
	writeJSONLights(t, &golden)

	path := filepath.Join("testdata", "templates.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if golden.String() != string(want) {
		t.Errorf("rendered templates differ from %s (run go test -update and review the diff)\n%s", path, golden.String())
	}
}

// TestTemplates_EvaluatorCatchesUnguardedTemplates: the evaluator reports
// what Home Assistant reports for the templates this project used before
// (so the golden test can fail), and renders guarded ones cleanly.
func TestTemplates_EvaluatorCatchesUnguardedTemplates(t *testing.T) {
	for _, tc := range []struct{ tpl, payload, want string }{
		{"{{ value_json.state | default('') }}", "", "ERROR UndefinedError: 'value_json' is undefined"},
		{"{{ value_json.state | default('') }}", `{"power":1}`, `""`},
		{"{{ value_json.state }}", `{"power":1}`, `"" WARNING 'dict object' has no attribute 'state'`},
		{"{{ value_json.state }}", "not json", "ERROR UndefinedError: 'value_json' is undefined"},
		{"{{ 'ON' if value_json.accounts['a'] else 'OFF' }}", `{"accounts":{}}`, `"OFF" WARNING 'dict object' has no attribute 'a'`},
		{"{{ 'ON' if value_json.accounts['a'].problem else 'OFF' }}", `{"accounts":{}}`, "ERROR UndefinedError: 'dict object' has no attribute 'a'"},
		{"{{ 'ON' if value_json.accounts['a'].problem else 'OFF' }}", `{"accounts":null}`, "ERROR UndefinedError: 'None' has no attribute 'a'"},
		{"{{ value_json.items }}", `{"items":1}`, `"<built-in method dict.items>"`},
		{"{{ value_json['items'] }}", `{"items":1}`, `"1"`},
		{"{{ value_json.power }}", `{"power":1e6}`, `"1000000.0"`},
		{"{{ value_json.power }}", `{"power":1e16}`, `"1e+16"`},
		{"{{ value_json.power }}", `{"power":0.0001}`, `"0.0001"`},
		{"{{ value_json.power }}", `{"power":0.00001}`, `"1e-05"`},
		{"{{ value_json.power }}", `{"power":-0}`, `"0"`},
		{"{{ value_json.a }}", `{"a":{"b":[1,true,null,"x"]}}`, `"{'b': [1, True, None, 'x']}"`},
		{valueTemplate(attr("state")), "", `""`},
		{valueTemplate(attr("state")), `{"state":"ON"}`, `"ON"`},
	} {
		res, err := render(tc.tpl, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.String(); got != tc.want {
			t.Errorf("%s on %q: %s, want %s", tc.tpl, tc.payload, got, tc.want)
		}
	}
	for _, bad := range []string{"{{ value_json.x | int }}", "{{ value_json.x == 1 }}", "{% if x %}{% endif %}", "{{ value_json[0] }}"} {
		if _, err := render(bad, "{}"); err == nil {
			t.Errorf("%s: outside the subset but parsed", bad)
		}
	}
}
