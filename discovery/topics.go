package discovery

import (
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// identifierPrefix starts every device registry identifier, so kasa2mqtt's
// devices never collide with another integration's identifiers.
const identifierPrefix = "kasa2mqtt_"

// Property names used in command topics (CommandTopic's prop argument).
const (
	// PropState switches the relay; payload "ON" or "OFF".
	PropState = "state"
	// PropLED switches the status LED; payload "ON" or "OFF".
	PropLED = "led"
	// PropRestart reboots the device; payload "PRESS".
	PropRestart = "restart"
)

// ObjectID returns the discovery object id of d: "<provider>_<id>" with
// every character outside [a-zA-Z0-9_-] replaced by '_' (one '_' per
// character, or per byte of invalid UTF-8), e.g. "kasa_8006ABCD…".
//
// The result is stable for the life of the device and is the base of all
// unique_ids. Two IDs that differ only in replaced characters map to the
// same ObjectID; vendor IDs are hex or alphanumeric, so this does not
// happen in practice.
func ObjectID(d cloud.Device) string {
	return sanitize(d.Provider + "_" + d.ID)
}

// Identifier returns the Home Assistant device registry identifier of d:
// "kasa2mqtt_" + ObjectID(d). Strip outlets name their strip with
// Identifier(cloud.Device{ID: outlet.ParentID, Provider: outlet.Provider}).
func Identifier(d cloud.Device) string {
	return identifierPrefix + ObjectID(d)
}

// ConfigTopic returns the retained device-based discovery topic of d:
// "<prefix>/device/<ObjectID>/config". It does not validate c; Payload does.
func ConfigTopic(c Config, d cloud.Device) string {
	return c.Prefix + "/device/" + ObjectID(d) + "/config"
}

// StateTopic returns the topic of a device's JSON state: "<base>/<topic>".
func StateTopic(base, topic string) string {
	return base + "/" + topic
}

// AvailabilityTopic returns the topic of a device's availability:
// "<base>/<topic>/availability".
func AvailabilityTopic(base, topic string) string {
	return base + "/" + topic + "/availability"
}

// BridgeStateTopic returns the bridge's own availability topic (also its
// MQTT last will): "<base>/bridge/state".
func BridgeStateTopic(base string) string {
	return base + "/bridge/state"
}

// CommandTopic returns the topic on which the bridge accepts a plain-payload
// command for one property: "<base>/<topic>/set/<prop>" (prop is one of
// PropState, PropLED, PropRestart).
func CommandTopic(base, topic, prop string) string {
	return base + "/" + topic + "/set/" + prop
}

// SetTopic returns the topic on which the bridge accepts a JSON (or plain
// ON/OFF/TOGGLE) command for the whole device: "<base>/<topic>/set". A
// light's Home Assistant command topic.
func SetTopic(base, topic string) string {
	return base + "/" + topic + "/set"
}

// sanitize replaces every character outside [a-zA-Z0-9_-] with '_'.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isObjectIDChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isObjectIDChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
}

// entitySlug turns s into a Home Assistant object id: lower-case [a-z0-9]
// runs joined by single '_', no leading or trailing '_'. Every other
// character is a separator, so "Living Room/Lamp" gives "living_room_lamp"
// and an already clean "living_room_lamp" is unchanged. The result may be
// empty.
func entitySlug(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range s {
		switch {
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
			fallthrough
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
		default:
			sep = true
		}
	}
	return b.String()
}
