package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testConfig = Config{
	Prefix:    "homeassistant",
	BaseTopic: "kasa2mqtt",
	Origin: Origin{
		Name:       "kasa2mqtt",
		SWVersion:  "1.2.3",
		SupportURL: "https://github.com/kasa2mqtt/kasa2mqtt",
	},
}

const stripID = "8006B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8"

// fixtures are the golden cases, keyed by golden file name (without .json).
var fixtures = map[string]Device{
	"plain_plug": {Topic: "living_room_lamp", Device: cloud.Device{
		ID: "8006ABCDEF0123456789ABCDEF0123456789ABCD", Provider: "kasa", Account: "home",
		Name: "Living Room Lamp", Model: "HS103(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.10 Build 221019 Rel.112940", HardwareVersion: "5.0",
		MAC: "50:C7:BF:01:02:03", Online: true,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED, cloud.CapRSSI, cloud.CapReboot},
	}},
	"metered_plug": {Topic: "washing_machine", Device: cloud.Device{
		ID: "80061122334455667788990011223344556677AA", Provider: "kasa", Account: "home",
		Name: "Washing Machine", Model: "HS110(EU)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.5.10 Build 191125 Rel.094314", HardwareVersion: "4.0",
		MAC: "B0:BE:76:AA:BB:CC", Online: true,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapLED, cloud.CapRSSI, cloud.CapReboot},
	}},
	"strip_parent": {Topic: "office_strip", Device: cloud.Device{
		ID: stripID, Provider: "kasa", Account: "home",
		Name: "Office Strip", Model: "HS300(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.21 Build 210524 Rel.161309", HardwareVersion: "2.0",
		MAC: "1C:3B:F3:10:20:30", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLED, cloud.CapRSSI, cloud.CapReboot},
	}},
	"strip_outlet": {Topic: "office_strip_monitor", Device: cloud.Device{
		ID: stripID + "00", Provider: "kasa", Account: "home",
		Name: "Monitor", Model: "HS300(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.21 Build 210524 Rel.161309", HardwareVersion: "2.0",
		// The provider may copy the strip's MAC; it must not become a
		// connection or HA would merge outlet and strip.
		MAC: "1C:3B:F3:10:20:30", Online: true, ParentID: stripID,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapEnergy},
	}},
	"no_mac_no_hw": {Topic: "kettle", Device: cloud.Device{
		ID: "8006FEDCBA9876543210FEDCBA9876543210FEDC", Provider: "kasa", Account: "home",
		Name: "Kettle", Model: "KP115(EU)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.16 Build 210205 Rel.163735",
		Online:          true,
		Capabilities:    []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI},
	}},
	// A Tuya strip without a master switch: no capability of its own.
	"strip_without_entities": {Topic: "garage_strip", Device: cloud.Device{
		ID: "bf0123456789abcdefghij", Provider: "tuya", Account: "tuya",
		Name: "Garage Strip", Model: "cz", Manufacturer: "Tuya", Online: true,
	}},
	// A wall dimmer (HS220): a light with brightness and transitions, no
	// relay switch.
	"dimmer": {Topic: "hall_dimmer", Device: cloud.Device{
		ID: "8006D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2", Provider: "kasa", Account: "home",
		Name: "Hall Dimmer", Model: "HS220(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.5.7 Build 180912 Rel.104837", HardwareVersion: "1.0",
		MAC: "50:C7:BF:D1:D2:D3", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapTransition, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot},
	}},
	// A colour bulb (KL130): both colour modes, its own Kelvin range, an
	// energy meter of power and energy (no voltage or current).
	"color_bulb": {Topic: "reading_lamp", Device: cloud.Device{
		ID: "8012A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2", Provider: "kasa", Account: "home",
		Name: "Reading Lamp", Model: "KL130(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.8.11 Build 191113 Rel.105336", HardwareVersion: "1.0",
		MAC: "50:C7:BF:A1:A2:A3", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor, cloud.CapTransition, cloud.CapEnergy, cloud.CapRSSI},
		ColorTemp:    cloud.KelvinRange{Min: 2500, Max: 9000},
		Readings:     []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy},
	}},
	// A tunable-white bulb (KL120(US)) and a dimmable-only one (KL50).
	"white_bulb": {Topic: "bedside", Device: cloud.Device{
		ID: "8012B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2", Provider: "kasa", Account: "home",
		Name: "Bedside", Model: "KL120(US)", Manufacturer: "TP-Link", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapTransition},
		ColorTemp:    cloud.KelvinRange{Min: 2700, Max: 5000},
	}},
	// The dimmer after an upgrade from a release that announced it as a
	// switch: the old switch goes as a stub; a removed id it still has
	// (light) and one the bridge never used are ignored.
	"dimmer_removing_switch": {Topic: "stair_dimmer", Removed: []string{"switch", "light", "flux_capacitor"}, Device: cloud.Device{
		ID: "8006E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2", Provider: "kasa", Account: "home",
		Name: "Stair Dimmer", Model: "KP405(US)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.5 Build 221011 Rel.194240", HardwareVersion: "1.0",
		MAC: "50:C7:BF:E1:E2:E3", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness, cloud.CapTransition, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot},
	}},
	"dimmable_bulb": {Topic: "porch", Device: cloud.Device{
		ID: "8012C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2", Provider: "kasa", Account: "home",
		Name: "Porch", Model: "KL50(US)", Manufacturer: "TP-Link", Online: true,
		Capabilities: []cloud.Capability{cloud.CapLight, cloud.CapBrightness},
	}},
	"unicode_name": {Topic: "kuche_kaffeemaschine", Device: cloud.Device{
		ID: "8006000000000000000000000000000000000001", Provider: "kasa", Account: "home",
		Name: `Küche – Kaffee & Tee ☕ "Eck" <客厅>`, Model: "KP105(DE)", Manufacturer: "TP-Link",
		FirmwareVersion: "1.0.7", HardwareVersion: "1.0",
		MAC: "50c7bf0a0b0c", Online: true,
		Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED},
	}},
}

// TestPayload_Golden compares each fixture's payload with
// testdata/<case>.json. Normalisation: the golden file is the published
// (compact) payload passed through json.Indent with two spaces plus a final
// newline; Indent only adds whitespace between tokens, so the golden file
// pins the published bytes exactly. Run with -update to rewrite.
func TestPayload_Golden(t *testing.T) {
	for name, d := range fixtures {
		t.Run(name, func(t *testing.T) { compareGolden(t, name, mustPayload(t, testConfig, d)) })
	}
}

// compareGolden checks that got is compact JSON equal to
// testdata/<name>.json once indented (or rewrites it with -update).
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, got); err != nil {
		t.Fatalf("payload is not valid JSON: %v", err)
	}
	if !bytes.Equal(compact.Bytes(), got) {
		t.Errorf("published payload is not compact JSON")
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')

	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("payload differs from %s (run go test -update and review the diff)\ngot:\n%s", path, pretty.Bytes())
	}
}

func TestPayload_Deterministic(t *testing.T) {
	d := fixtures["metered_plug"]
	first := mustPayload(t, testConfig, d)
	// Capability order and duplicates do not matter.
	d.Capabilities = []cloud.Capability{cloud.CapReboot, cloud.CapRSSI, cloud.CapLED, cloud.CapEnergy, cloud.CapRelay, cloud.CapRelay}
	for range 5 {
		if got := mustPayload(t, testConfig, d); !bytes.Equal(got, first) {
			t.Fatalf("payload changed between calls:\n%s\n%s", first, got)
		}
	}
}

func TestPayload_Invariants(t *testing.T) {
	for name, d := range fixtures {
		t.Run(name, func(t *testing.T) {
			checkInvariants(t, testConfig, d, mustPayload(t, testConfig, d))
		})
	}
}

func TestPayload_ComponentsPerCapability(t *testing.T) {
	pe := []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	tests := []struct {
		name     string
		caps     []cloud.Capability
		readings []cloud.Reading
		want     []string
	}{
		{"none: connectivity", nil, nil, []string{"connectivity"}},
		{"relay", []cloud.Capability{cloud.CapRelay}, nil, []string{"switch"}},
		{"energy", []cloud.Capability{cloud.CapEnergy}, nil, []string{"current", "energy", "power", "voltage"}},
		{"energy, all four listed", []cloud.Capability{cloud.CapEnergy}, cloud.AllReadings(), []string{"current", "energy", "power", "voltage"}},
		{"energy of a bulb: power and energy", []cloud.Capability{cloud.CapLight, cloud.CapEnergy}, pe, []string{"energy", "light", "power"}},
		{"energy: power only", []cloud.Capability{cloud.CapRelay, cloud.CapEnergy}, []cloud.Reading{cloud.ReadingPower}, []string{"power", "switch"}},
		{"readings without energy ignored", []cloud.Capability{cloud.CapRelay}, pe, []string{"switch"}},
		{"rssi", []cloud.Capability{cloud.CapRSSI}, nil, []string{"rssi"}},
		{"led", []cloud.Capability{cloud.CapLED}, nil, []string{"led"}},
		{"reboot", []cloud.Capability{cloud.CapReboot}, nil, []string{"restart"}},
		{"light", []cloud.Capability{cloud.CapLight, cloud.CapBrightness}, nil, []string{"light"}},
		{"light capabilities without a light", []cloud.Capability{cloud.CapBrightness, cloud.CapColor}, nil, []string{"connectivity"}},
		{"unknown ignored", []cloud.Capability{"dimmer"}, nil, []string{"connectivity"}},
		{"all", []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot}, nil,
			[]string{"current", "energy", "led", "power", "restart", "rssi", "switch", "voltage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixtures["plain_plug"]
			d.Capabilities, d.Readings = tt.caps, tt.readings
			p := decode(t, mustPayload(t, testConfig, d))
			got := slices.Sorted(maps.Keys(p.Components))
			if !slices.Equal(got, tt.want) {
				t.Errorf("components = %v, want %v", got, tt.want)
			}
			if p.Components == nil {
				t.Errorf(`"components" must be an object, got null`)
			}
		})
	}
}

// A meter that lists fewer readings keeps the unique_ids (and the whole
// components) of the sensors it still has: Home Assistant keeps their
// entities and history; only the others go.
func TestPayload_FewerReadingsKeepTheirSensors(t *testing.T) {
	all := fixtures["metered_plug"]
	fewer := all
	fewer.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	before := decode(t, mustPayload(t, testConfig, all)).Components
	after := decode(t, mustPayload(t, testConfig, fewer)).Components
	for id, comp := range before {
		switch id {
		case "voltage", "current":
			if _, ok := after[id]; ok {
				t.Errorf("%s still announced", id)
			}
		default:
			if !reflect.DeepEqual(after[id], comp) {
				t.Errorf("%s changed: %v, was %v", id, after[id], comp)
			}
		}
	}
}

func TestPayload_UniqueIDsStableAcrossRename(t *testing.T) {
	for name, d := range fixtures {
		t.Run(name, func(t *testing.T) {
			before := uniqueIDs(t, decode(t, mustPayload(t, testConfig, d)))
			renamed := d
			renamed.Name = "Something Else Entirely"
			renamed.Topic = "something_else"
			after := uniqueIDs(t, decode(t, mustPayload(t, testConfig, renamed)))
			if len(before) != len(after) {
				t.Fatalf("component count changed: %v vs %v", before, after)
			}
			for id, uid := range before {
				if after[id] != uid {
					t.Errorf("component %q unique_id changed on rename: %q -> %q", id, uid, after[id])
				}
			}
		})
	}
}

func TestPayload_UniqueIDsDistinct(t *testing.T) {
	seen := map[string]string{}
	check := func(where string, c Config, d Device) {
		for comp, uid := range uniqueIDs(t, decode(t, mustPayload(t, c, d))) {
			if prev, dup := seen[uid]; dup {
				t.Errorf("unique_id %q used by %s and %s/%s", uid, prev, where, comp)
			}
			seen[uid] = where + "/" + comp
		}
	}
	for name, d := range fixtures {
		check(name, testConfig, d)
	}
	// A second bridge instance on the same broker gets its own unique_ids.
	other := testConfig
	other.BaseTopic = "kasa2mqtt_garage"
	check("other bridge/plain_plug", other, fixtures["plain_plug"])
	// Same id under another provider.
	tuya := fixtures["plain_plug"]
	tuya.Provider = "tuya"
	check("tuya/plain_plug", testConfig, tuya)
}

func TestPayload_NoObjectIDKey(t *testing.T) {
	for name, d := range fixtures {
		var v any
		if err := json.Unmarshal(mustPayload(t, testConfig, d), &v); err != nil {
			t.Fatal(err)
		}
		if path := findKey(v, "object_id", "$"); path != "" {
			t.Errorf("%s: deprecated key object_id at %s", name, path)
		}
	}
}

func TestPayload_Device(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Device)
		wantName  string
		wantConns [][2]string
		wantVia   string
	}{
		{"upper-case MAC is lower-cased", func(d *Device) { d.MAC = "50:C7:BF:01:02:03" },
			"Living Room Lamp", [][2]string{{"mac", "50:c7:bf:01:02:03"}}, ""},
		{"bare hex MAC", func(d *Device) { d.MAC = "50C7BF010203" },
			"Living Room Lamp", [][2]string{{"mac", "50:c7:bf:01:02:03"}}, ""},
		{"dashed MAC", func(d *Device) { d.MAC = "50-c7-bf-01-02-03" },
			"Living Room Lamp", [][2]string{{"mac", "50:c7:bf:01:02:03"}}, ""},
		{"short MAC dropped", func(d *Device) { d.MAC = "50:C7:BF:01:02" }, "Living Room Lamp", nil, ""},
		{"long MAC dropped", func(d *Device) { d.MAC = "50:C7:BF:01:02:03:04" }, "Living Room Lamp", nil, ""},
		{"garbage MAC dropped", func(d *Device) { d.MAC = "unknown" }, "Living Room Lamp", nil, ""},
		{"zero MAC dropped", func(d *Device) { d.MAC = "00:00:00:00:00:00" }, "Living Room Lamp", nil, ""},
		{"outlet: via_device, no connections", func(d *Device) { d.ParentID = "STRIP" },
			"Living Room Lamp", nil, "kasa2mqtt_kasa_STRIP"},
		{"blank name falls back to topic", func(d *Device) { d.Name = "  " }, "living_room_lamp",
			[][2]string{{"mac", "50:c7:bf:01:02:03"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixtures["plain_plug"]
			tt.edit(&d)
			got := decode(t, mustPayload(t, testConfig, d)).Device
			if got.Name != tt.wantName {
				t.Errorf("name = %q, want %q", got.Name, tt.wantName)
			}
			if len(got.Connections) != len(tt.wantConns) || len(got.Connections) == 1 && got.Connections[0] != tt.wantConns[0] {
				t.Errorf("connections = %v, want %v", got.Connections, tt.wantConns)
			}
			if got.ViaDevice != tt.wantVia {
				t.Errorf("via_device = %q, want %q", got.ViaDevice, tt.wantVia)
			}
			if len(got.Identifiers) != 1 || got.Identifiers[0] != Identifier(d.Device) {
				t.Errorf("identifiers = %v, want [%s]", got.Identifiers, Identifier(d.Device))
			}
		})
	}
}

func TestPayload_DefaultEntityIDSlug(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"living_room_lamp", "switch.living_room_lamp"},
		{"Living-Room/Lamp", "switch.living_room_lamp"},
		{"__x__", "switch.x"},
		{"客厅", "switch.kasa_8006abcdef0123456789abcdef0123456789abcd"}, // falls back to the ObjectID
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			d := fixtures["plain_plug"]
			d.Topic = tt.topic
			if got := decode(t, mustPayload(t, testConfig, d)).Components["switch"].DefaultEntityID; got != tt.want {
				t.Errorf("default_entity_id = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPayload_InvalidInput(t *testing.T) {
	long := strings.Repeat("a", maxTopicBytes)
	tests := []struct {
		name string
		edit func(*Config, *Device)
	}{
		{"empty prefix", func(c *Config, d *Device) { c.Prefix = "" }},
		{"prefix with +", func(c *Config, d *Device) { c.Prefix = "home+assistant" }},
		{"prefix with #", func(c *Config, d *Device) { c.Prefix = "homeassistant/#" }},
		{"prefix with NUL", func(c *Config, d *Device) { c.Prefix = "home\x00assistant" }},
		{"prefix trailing slash", func(c *Config, d *Device) { c.Prefix = "homeassistant/" }},
		{"empty base topic", func(c *Config, d *Device) { c.BaseTopic = "" }},
		{"base topic with +", func(c *Config, d *Device) { c.BaseTopic = "kasa+" }},
		{"base topic with #", func(c *Config, d *Device) { c.BaseTopic = "#" }},
		{"base topic with NUL", func(c *Config, d *Device) { c.BaseTopic = "kasa\x00" }},
		{"base topic with control char", func(c *Config, d *Device) { c.BaseTopic = "kasa\n2mqtt" }},
		{"base topic with C1 control", func(c *Config, d *Device) { c.BaseTopic = "kasa\u00852mqtt" }},
		{"base topic with non-character", func(c *Config, d *Device) { c.BaseTopic = "kasa\ufffe" }},
		{"base topic invalid UTF-8", func(c *Config, d *Device) { c.BaseTopic = "kasa\xff" }},
		{"base topic empty level", func(c *Config, d *Device) { c.BaseTopic = "a//b" }},
		{"base topic too long", func(c *Config, d *Device) { c.BaseTopic = long + "a" }},
		{"empty origin name", func(c *Config, d *Device) { c.Origin.Name = " " }},
		{"bad support URL", func(c *Config, d *Device) { c.Origin.SupportURL = "github.com/kasa2mqtt" }},
		{"empty topic", func(c *Config, d *Device) { d.Topic = "" }},
		{"topic with +", func(c *Config, d *Device) { d.Topic = "lamp+" }},
		{"topic with #", func(c *Config, d *Device) { d.Topic = "lamp/#" }},
		{"topic with NUL", func(c *Config, d *Device) { d.Topic = "la\x00mp" }},
		{"topic leading slash", func(c *Config, d *Device) { d.Topic = "/lamp" }},
		{"topic reserved", func(c *Config, d *Device) { d.Topic = "bridge" }},
		{"topic under reserved", func(c *Config, d *Device) { d.Topic = "bridge/state" }},
		{"topics too long", func(c *Config, d *Device) { d.Topic = long[:maxTopicBytes-20] }},
		{"empty id", func(c *Config, d *Device) { d.ID = "" }},
		{"id with +", func(c *Config, d *Device) { d.ID = "80+06" }},
		{"id with #", func(c *Config, d *Device) { d.ID = "80#06" }},
		{"id with NUL", func(c *Config, d *Device) { d.ID = "80\x0006" }},
		{"empty provider", func(c *Config, d *Device) { d.Provider = "" }},
		{"parent id with #", func(c *Config, d *Device) { d.ParentID = "#" }},
		{"parent is self", func(c *Config, d *Device) { d.ParentID = d.ID }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d := testConfig, fixtures["plain_plug"]
			tt.edit(&c, &d)
			got, err := Payload(c, d)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Payload error = %v, want ErrInvalid", err)
			}
			if got != nil {
				t.Errorf("Payload returned %d bytes with an error", len(got))
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	c := testConfig
	c.Origin.SWVersion, c.Origin.SupportURL = "", ""
	if err := c.Validate(); err != nil {
		t.Errorf("optional origin fields empty: %v", err)
	}
	c.Prefix = "home/assistant" // unusual but legal
	if err := c.Validate(); err != nil {
		t.Errorf("multi-level prefix: %v", err)
	}
	if err := (Config{}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero Config: got %v, want ErrInvalid", err)
	}
}

// --- helpers -------------------------------------------------------------

// decodedPayload mirrors the payload for assertions. It is declared
// independently of the production structs, so a wrong json tag shows up as
// a missing value.
type decodedPayload struct {
	Device struct {
		Identifiers  []string    `json:"identifiers"`
		Name         string      `json:"name"`
		Manufacturer string      `json:"manufacturer"`
		Model        string      `json:"model"`
		SWVersion    string      `json:"sw_version"`
		HWVersion    string      `json:"hw_version"`
		Connections  [][2]string `json:"connections"`
		ViaDevice    string      `json:"via_device"`
	} `json:"device"`
	Origin struct {
		Name       string `json:"name"`
		SWVersion  string `json:"sw_version"`
		SupportURL string `json:"support_url"`
	} `json:"origin"`
	Availability []struct {
		Topic         string `json:"topic"`
		ValueTemplate string `json:"value_template"`
	} `json:"availability"`
	AvailabilityMode string                      `json:"availability_mode"`
	StateTopic       string                      `json:"state_topic"`
	QoS              *int                        `json:"qos"`
	Components       map[string]decodedComponent `json:"components"`
}

type decodedComponent struct {
	Platform        string `json:"platform"`
	UniqueID        string `json:"unique_id"`
	DefaultEntityID string `json:"default_entity_id"`
	CommandTopic    string `json:"command_topic"`
	EntityCategory  string `json:"entity_category"`
	QoS             *int   `json:"qos"`
	// SupportedColorModes of a light.
	SupportedColorModes []string `json:"supported_color_modes"`
}

func mustPayload(tb testing.TB, c Config, d Device) []byte {
	tb.Helper()
	b, err := Payload(c, d)
	if err != nil {
		tb.Fatalf("Payload(%q): %v", d.ID, err)
	}
	return b
}

func decode(tb testing.TB, b []byte) decodedPayload {
	tb.Helper()
	var p decodedPayload
	if err := json.Unmarshal(b, &p); err != nil {
		tb.Fatalf("decode payload: %v\n%s", err, b)
	}
	return p
}

func uniqueIDs(tb testing.TB, p decodedPayload) map[string]string {
	tb.Helper()
	m := map[string]string{}
	for id, c := range p.Components {
		m[id] = c.UniqueID
	}
	return m
}

// checkInvariants asserts what every payload must satisfy for HA to accept
// it; shared by the table tests and the fuzz test.
func checkInvariants(tb testing.TB, c Config, d Device, b []byte) {
	tb.Helper()
	if !json.Valid(b) {
		tb.Fatalf("invalid JSON: %q", b)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		tb.Fatalf("payload is not a JSON object: %v", err)
	}
	for _, k := range []string{"device", "origin", "components", "availability", "availability_mode", "state_topic", "qos"} {
		if _, ok := raw[k]; !ok {
			tb.Errorf("root key %q missing", k)
		}
	}
	var v any
	_ = json.Unmarshal(b, &v)
	if path := findKey(v, "object_id", "$"); path != "" {
		tb.Errorf("deprecated key object_id at %s", path)
	}
	p := decode(tb, b)
	if len(p.Device.Identifiers) != 1 || p.Device.Identifiers[0] != Identifier(d.Device) {
		tb.Errorf("device identifiers = %v, want [%q]", p.Device.Identifiers, Identifier(d.Device))
	}
	if p.Device.Name == "" {
		tb.Errorf("device name is empty")
	}
	if p.Origin.Name == "" {
		tb.Errorf("origin name is empty")
	}
	if p.AvailabilityMode != "all" {
		tb.Errorf("availability_mode = %q, want all", p.AvailabilityMode)
	}
	wantAvail := []string{BridgeStateTopic(c.BaseTopic), AvailabilityTopic(c.BaseTopic, d.Topic)}
	if len(p.Availability) != 2 {
		tb.Fatalf("availability has %d entries, want 2", len(p.Availability))
	}
	for i, a := range p.Availability {
		if a.Topic != wantAvail[i] || a.ValueTemplate != "{{ value_json.state if value_json is defined and value_json.state is defined else '' }}" {
			tb.Errorf("availability[%d] = %+v, want topic %q with a guarded value_json.state", i, a, wantAvail[i])
		}
	}
	if p.StateTopic != StateTopic(c.BaseTopic, d.Topic) {
		tb.Errorf("state_topic = %q, want %q", p.StateTopic, StateTopic(c.BaseTopic, d.Topic))
	}
	if p.QoS == nil || *p.QoS != 1 {
		tb.Errorf("root qos = %v, want 1", p.QoS)
	}
	if p.Components == nil {
		tb.Errorf("components is null")
	}
	var raw2 struct {
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(b, &raw2); err != nil {
		tb.Fatal(err)
	}
	live := ComponentIDs(d.Device)
	for _, id := range d.Removed {
		if !slices.Contains(live, id) && platforms[id] != "" && len(raw2.Components[id]) != 1 {
			tb.Errorf("removed component %q is not a platform-only stub: %v", id, raw2.Components[id])
		}
	}
	seen := map[string]bool{}
	for id, comp := range p.Components {
		if len(raw2.Components[id]) == 1 {
			// A stub: only the platform it was announced with, for a
			// removed component the device no longer has.
			if !slices.Contains(d.Removed, id) || slices.Contains(live, id) || comp.Platform == "" || comp.Platform != platforms[id] {
				tb.Errorf("stub %q (platform %q) for a component that is live, not removed, or of another platform", id, comp.Platform)
			}
			continue
		}
		if comp.Platform == "" || comp.UniqueID == "" {
			tb.Errorf("component %q: platform %q, unique_id %q: both required", id, comp.Platform, comp.UniqueID)
		}
		if want := ObjectID(d.Device) + "_" + id + "_" + c.BaseTopic; comp.UniqueID != want {
			tb.Errorf("component %q unique_id = %q, want %q", id, comp.UniqueID, want)
		}
		if seen[comp.UniqueID] {
			tb.Errorf("duplicate unique_id %q", comp.UniqueID)
		}
		seen[comp.UniqueID] = true
		domain, object, ok := strings.Cut(comp.DefaultEntityID, ".")
		if !ok || domain != comp.Platform || !isEntityObjectID(object) {
			tb.Errorf("component %q default_entity_id %q is not a valid %s entity id", id, comp.DefaultEntityID, comp.Platform)
		}
		if comp.QoS == nil || *comp.QoS != 1 {
			tb.Errorf("component %q qos = %v, want 1", id, comp.QoS)
		}
		if comp.CommandTopic != "" && !strings.HasPrefix(comp.CommandTopic, c.BaseTopic+"/"+d.Topic+"/set/") &&
			!(comp.Platform == "light" && comp.CommandTopic == SetTopic(c.BaseTopic, d.Topic)) {
			tb.Errorf("component %q command_topic %q outside the device's set/ tree (only a light takes the JSON set topic)", id, comp.CommandTopic)
		}
		if comp.Platform == "light" {
			var full struct {
				Components map[string]component `json:"components"`
			}
			if err := json.Unmarshal(b, &full); err != nil {
				tb.Fatal(err)
			}
			checkLightComponent(tb, d, id, full.Components[id])
		}
		if comp.Platform == "sensor" && comp.EntityCategory == "config" {
			tb.Errorf("sensor %q has entity_category config (HA refuses it)", id)
		}
	}
}

// isEntityObjectID reports whether s is valid after the '.' of an HA
// entity id: [a-z0-9_], no leading, trailing or double '_'.
func isEntityObjectID(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// findKey returns the path of the first object key named key in v, or "".
func findKey(v any, key, path string) string {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if k == key {
				return path + "." + k
			}
			if p := findKey(child, key, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for _, child := range v {
			if p := findKey(child, key, path+"[]"); p != "" {
				return p
			}
		}
	}
	return ""
}
