package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Config is fixed for the life of a bridge. The zero value is not usable;
// see Config.Validate.
type Config struct {
	// Prefix is Home Assistant's discovery prefix, e.g. "homeassistant".
	Prefix string
	// BaseTopic is the bridge's topic root, e.g. "kasa2mqtt". It is part of
	// every unique_id, so two bridges on one broker never collide.
	BaseTopic string
	// Origin identifies the bridge in Home Assistant's logs.
	Origin Origin
	// ViaBridge links every top-level device to the bridge's own Home
	// Assistant device (BridgePayload) with via_device. Strip outlets
	// always link to their strip.
	ViaBridge bool
}

// Origin is the origin block of every discovery payload, e.g.
// {Name: "kasa2mqtt", SWVersion: "1.2.3",
// SupportURL: "https://github.com/kasa2mqtt/kasa2mqtt"}. Name is required;
// empty SWVersion and SupportURL are omitted.
type Origin struct{ Name, SWVersion, SupportURL string }

// Device is one device as the bridge publishes it.
type Device struct {
	cloud.Device
	// Topic is the device's topic segment under the base topic, e.g.
	// "living_room_lamp". The bridge keeps it unique and sanitised; it also
	// seeds the suggested entity ids ("switch.living_room_lamp").
	Topic string
	// ParentNotAnnounced is set by the bridge when the device's parent
	// (ParentID) has no discovery message of its own, e.g. a strip
	// disabled in the configuration: via_device then names the bridge
	// device (Config.ViaBridge) or nothing, never a device Home Assistant
	// does not know. Default false: the parent is announced.
	ParentNotAnnounced bool
	// Removed names components an earlier payload of the device announced
	// (component ids, as ComponentIDs returns them) that Home Assistant
	// may still hold. Each one the device no longer has is published as a
	// platform-only stub ({"platform":"switch"}): Home Assistant deletes a
	// component of a device-based payload only when it arrives in that
	// form, never when it is left out. Ids the device still has, and ids
	// the bridge has never used (AllComponentIDs), are ignored. Default
	// nil: none. The bridge sends the stubs until the broker has accepted
	// one payload carrying them, then leaves them out.
	Removed []string
}

// Component ids inside the device payload. The discovery id HA derives is
// "<ObjectID> <component id>", so these must never change.
const (
	compSwitch  = "switch"
	compLight   = "light"
	compPower   = "power"
	compVoltage = "voltage"
	compCurrent = "current"
	compEnergy  = "energy"
	compRSSI    = "rssi"
	compLED     = "led"
	compRestart = "restart"
	// compConnectivity is given only to a device with none of the others
	// (a Tuya strip without a master switch), so that it is announced.
	compConnectivity = "connectivity"
)

// platforms maps every component id the bridge has announced in a device
// payload, in any release, to its platform. An id keeps its platform for
// ever: Home Assistant knows a component by both, and a stub (see
// Device.Removed) must name the platform it was announced with.
var platforms = map[string]string{
	compSwitch:       "switch",
	compLight:        "light",
	compPower:        "sensor",
	compVoltage:      "sensor",
	compCurrent:      "sensor",
	compEnergy:       "sensor",
	compRSSI:         "sensor",
	compLED:          "switch",
	compRestart:      "button",
	compConnectivity: "binary_sensor",
}

// ComponentIDs returns, sorted, the ids of the components Payload
// announces for d (Device.Removed aside): what the bridge remembers to
// compute Device.Removed when the device's capabilities change.
func ComponentIDs(d cloud.Device) []string {
	return slices.Sorted(maps.Keys(components(Config{}, Device{Device: d})))
}

// AllComponentIDs returns, sorted, every component id the bridge has
// announced in a device payload in any release: for a device whose
// earlier components are unknown, the ids Home Assistant may hold.
func AllComponentIDs() []string { return slices.Sorted(maps.Keys(platforms)) }

const (
	qos          = 1
	payloadOn    = "ON"
	payloadOff   = "OFF"
	payloadPress = "PRESS"
)

// availabilityTpl reads {"state":"online"|"offline"} on the availability
// topics; "" (ignored by Home Assistant) for anything else.
var availabilityTpl = valueTemplate(attr("state"))

// Names: the relay is the device's main feature and takes the device name
// (JSON null). Every other entity with a device_class is left unnamed so HA
// names it from the class ("Power", "Signal strength", "Restart", …) in the
// user's language; only the LED switch, which has no class, is named.
var (
	nameNull = json.RawMessage(`null`)
	nameLED  = json.RawMessage(`"LED"`)
)

// payload is the device-based discovery message. Field order is the JSON
// key order; components are a map, which encoding/json writes sorted, of
// component and stub values.
type payload struct {
	Device           deviceInfo     `json:"device"`
	Origin           originInfo     `json:"origin"`
	Availability     []availability `json:"availability"`
	AvailabilityMode string         `json:"availability_mode"`
	StateTopic       string         `json:"state_topic"`
	QoS              int            `json:"qos"`
	Components       map[string]any `json:"components"`
}

// stub is a component reduced to its platform: Home Assistant deletes the
// component with that id and platform.
type stub struct {
	Platform string `json:"platform"`
}

type deviceInfo struct {
	Identifiers  []string    `json:"identifiers"`
	Name         string      `json:"name"`
	Manufacturer string      `json:"manufacturer,omitempty"`
	Model        string      `json:"model,omitempty"`
	SWVersion    string      `json:"sw_version,omitempty"`
	HWVersion    string      `json:"hw_version,omitempty"`
	Connections  [][2]string `json:"connections,omitempty"`
	ViaDevice    string      `json:"via_device,omitempty"`
}

type originInfo struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

// availability omits payload_available/payload_not_available: HA's
// defaults "online"/"offline" are what the templates yield.
type availability struct {
	Topic         string `json:"topic"`
	ValueTemplate string `json:"value_template"`
}

// component is the union of the keys our switch, light, sensor and button
// entities use; empty optional keys are omitted.
type component struct {
	Platform                  string          `json:"platform"`
	Name                      json.RawMessage `json:"name,omitempty"`
	UniqueID                  string          `json:"unique_id"`
	DefaultEntityID           string          `json:"default_entity_id"`
	DeviceClass               string          `json:"device_class,omitempty"`
	EntityCategory            string          `json:"entity_category,omitempty"`
	EnabledByDefault          *bool           `json:"enabled_by_default,omitempty"`
	Icon                      string          `json:"icon,omitempty"`
	StateTopic                string          `json:"state_topic,omitempty"`
	CommandTopic              string          `json:"command_topic,omitempty"`
	PayloadOn                 string          `json:"payload_on,omitempty"`
	PayloadOff                string          `json:"payload_off,omitempty"`
	PayloadPress              string          `json:"payload_press,omitempty"`
	ValueTemplate             string          `json:"value_template,omitempty"`
	StateOn                   string          `json:"state_on,omitempty"`
	StateOff                  string          `json:"state_off,omitempty"`
	UnitOfMeasurement         string          `json:"unit_of_measurement,omitempty"`
	StateClass                string          `json:"state_class,omitempty"`
	SuggestedDisplayPrecision *int            `json:"suggested_display_precision,omitempty"`
	// Light keys (JSON schema).
	Schema              string   `json:"schema,omitempty"`
	SupportedColorModes []string `json:"supported_color_modes,omitempty"`
	ColorTempKelvin     bool     `json:"color_temp_kelvin,omitempty"`
	MinKelvin           int      `json:"min_kelvin,omitempty"`
	MaxKelvin           int      `json:"max_kelvin,omitempty"`
	Flash               *bool    `json:"flash,omitempty"`
	Transition          *bool    `json:"transition,omitempty"`
	// Availability replaces the device's availability for this entity.
	Availability []availability `json:"availability,omitempty"`
	// QoS repeats the root qos: HA releases before qos became a shared
	// device-discovery option ignore the root value for components.
	QoS int `json:"qos"`
}

// Payload returns the retained device-based discovery payload for d, to be
// published on ConfigTopic(c, d.Device): compact JSON with full key names,
// byte-for-byte identical for equal inputs.
//
// The payload has one component per capability d declares (unknown
// capabilities are ignored); a device without known capabilities gets a
// connectivity binary sensor instead, so every device is announced with at
// least one entity. Components of d.Removed it no longer has are added as
// platform-only stubs, which Home Assistant deletes. Strip outlets (ParentID set) reference their strip
// with via_device (unless ParentNotAnnounced) and carry no MAC connection,
// because an outlet shares its strip's MAC and HA merges devices that
// share a connection.
//
// Payload returns an error wrapping ErrInvalid when c fails Validate, when
// d's Provider or ID is empty or contains NUL, '+' or '#', when ParentID
// does so or equals ID, or when d.Topic is not a valid topic segment
// (empty, wildcards, control characters, empty levels, "bridge"). It never
// panics.
func Payload(c Config, d Device) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := validateDevice(c, d); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // names like "Tom & Jerry" stay readable
	if err := enc.Encode(build(c, d)); err != nil {
		return nil, fmt.Errorf("discovery: encode payload for %q: %w", d.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func build(c Config, d Device) payload {
	return payload{
		Device: deviceBlock(c, d),
		Origin: originInfo(c.Origin),
		Availability: []availability{
			{Topic: BridgeStateTopic(c.BaseTopic), ValueTemplate: availabilityTpl},
			{Topic: AvailabilityTopic(c.BaseTopic, d.Topic), ValueTemplate: availabilityTpl},
		},
		AvailabilityMode: "all",
		StateTopic:       StateTopic(c.BaseTopic, d.Topic),
		QoS:              qos,
		Components:       withStubs(components(c, d), d.Removed),
	}
}

// withStubs returns comps with a stub for each id of removed that is not
// among them and that the bridge has used.
func withStubs(comps map[string]component, removed []string) map[string]any {
	out := make(map[string]any, len(comps)+len(removed))
	for id, comp := range comps {
		out[id] = comp
	}
	for _, id := range removed {
		if _, live := comps[id]; !live && platforms[id] != "" {
			out[id] = stub{Platform: platforms[id]}
		}
	}
	return out
}

func deviceBlock(c Config, d Device) deviceInfo {
	name := strings.TrimSpace(d.Name)
	if name == "" {
		name = d.Topic
	}
	info := deviceInfo{
		Identifiers:  []string{Identifier(d.Device)},
		Name:         name,
		Manufacturer: d.Manufacturer,
		Model:        d.Model,
		SWVersion:    d.FirmwareVersion,
		HWVersion:    d.HardwareVersion,
	}
	switch {
	case d.ParentID != "" && !d.ParentNotAnnounced:
		info.ViaDevice = Identifier(cloud.Device{ID: d.ParentID, Provider: d.Provider})
	case c.ViaBridge:
		info.ViaDevice = BridgeIdentifier(c)
	}
	if d.ParentID == "" {
		if mac, ok := normalizeMAC(d.MAC); ok {
			info.Connections = [][2]string{{"mac", mac}}
		}
	}
	return info
}

// normalizeMAC returns mac as lower-case colon-separated hex. It accepts
// ':', '-' or '.' separators or none, and rejects anything that is not 48
// bits, and the all-zero address (a placeholder that would merge unrelated
// devices in HA's registry).
func normalizeMAC(mac string) (string, bool) {
	hex := make([]byte, 0, 12)
	for i := 0; i < len(mac); i++ {
		switch ch := mac[i]; {
		case ch == ':' || ch == '-' || ch == '.':
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f':
			hex = append(hex, ch)
		case 'A' <= ch && ch <= 'F':
			hex = append(hex, ch+'a'-'A')
		default:
			return "", false
		}
		if len(hex) > 12 {
			return "", false
		}
	}
	if len(hex) != 12 || string(hex) == "000000000000" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(hex[i : i+2])
	}
	return b.String(), true
}

func components(c Config, d Device) map[string]component {
	objectID := ObjectID(d.Device)
	slug := entitySlug(d.Topic)
	if slug == "" {
		slug = entitySlug(objectID)
	}
	if slug == "" {
		slug = "device"
	}
	cmds := func(prop string) string { return CommandTopic(c.BaseTopic, d.Topic, prop) }

	out := map[string]component{}
	add := func(id, entitySuffix string, comp component) {
		platform := platforms[id]
		comp.Platform = platform
		comp.UniqueID = objectID + "_" + id + "_" + c.BaseTopic
		comp.DefaultEntityID = platform + "." + slug + entitySuffix
		comp.QoS = qos
		out[id] = comp
	}

	if d.Has(cloud.CapRelay) {
		add(compSwitch, "", component{
			Name:          nameNull,
			DeviceClass:   "outlet",
			CommandTopic:  cmds(PropState),
			PayloadOn:     payloadOn,
			PayloadOff:    payloadOff,
			ValueTemplate: stateTemplate("state"),
			StateOn:       payloadOn,
			StateOff:      payloadOff,
		})
	}
	if d.Has(cloud.CapLight) {
		add(compLight, "", lightComponent(c, d))
	}
	// One sensor per reading the meter reports (Device.EnergyReadings):
	// a sensor for a value that never comes would stay "unknown".
	for _, s := range []struct {
		reading              cloud.Reading
		id, unit, stateClass string
		precision            int
	}{
		{cloud.ReadingPower, compPower, "W", "measurement", 1},
		{cloud.ReadingVoltage, compVoltage, "V", "measurement", 1},
		{cloud.ReadingCurrent, compCurrent, "A", "measurement", 3},
		// total_increasing feeds the Energy dashboard; providers
		// guarantee the total never decreases.
		{cloud.ReadingEnergy, compEnergy, "kWh", "total_increasing", 3},
	} {
		if d.Reports(s.reading) {
			add(s.id, "_"+s.id, component{
				DeviceClass:               s.id,
				ValueTemplate:             stateTemplate(s.id),
				UnitOfMeasurement:         s.unit,
				StateClass:                s.stateClass,
				SuggestedDisplayPrecision: ptr(s.precision),
			})
		}
	}
	if d.Has(cloud.CapRSSI) {
		add(compRSSI, "_rssi", component{
			DeviceClass:       "signal_strength",
			EntityCategory:    "diagnostic",
			EnabledByDefault:  ptr(false),
			ValueTemplate:     stateTemplate("rssi"),
			UnitOfMeasurement: "dBm",
			StateClass:        "measurement",
		})
	}
	if d.Has(cloud.CapLED) {
		add(compLED, "_led", component{
			Name:           nameLED,
			EntityCategory: "config",
			Icon:           "mdi:led-on",
			CommandTopic:   cmds(PropLED),
			PayloadOn:      payloadOn,
			PayloadOff:     payloadOff,
			ValueTemplate:  stateTemplate("led"),
			StateOn:        payloadOn,
			StateOff:       payloadOff,
		})
	}
	if d.Has(cloud.CapReboot) {
		add(compRestart, "_restart", component{
			DeviceClass:    "restart",
			EntityCategory: "config",
			CommandTopic:   cmds(PropRestart),
			PayloadPress:   payloadPress,
		})
	}
	if len(out) == 0 {
		// Without an entity Home Assistant would register nothing, and
		// outlets would link to a device it never names. Connectivity
		// reads the device's availability topic and is itself available
		// while the bridge is, so it shows "disconnected" rather than
		// "unavailable" when the device is offline.
		add(compConnectivity, "_connectivity", component{
			DeviceClass:    "connectivity",
			EntityCategory: "diagnostic",
			StateTopic:     AvailabilityTopic(c.BaseTopic, d.Topic),
			ValueTemplate:  availabilityTpl,
			PayloadOn:      "online",
			PayloadOff:     "offline",
			Availability:   []availability{{Topic: BridgeStateTopic(c.BaseTopic), ValueTemplate: availabilityTpl}},
		})
	}
	return out
}

// stateTemplate extracts key from the JSON state. A missing key (or an
// empty or non-JSON payload) renders "": HA ignores the update, the entity
// keeps its value and nothing is logged, so the bridge may leave out
// values it does not have; an explicit JSON null renders "None", which HA
// reads as unknown.
func stateTemplate(key string) string { return valueTemplate(attr(key)) }

func ptr[T any](v T) *T { return &v }
