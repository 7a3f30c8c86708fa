// Package discovery turns the neutral device model (cloud.Device) into Home
// Assistant MQTT discovery messages: the topic and the retained JSON payload
// of one device-based discovery config per device
// (<prefix>/device/<object id>/config), plus the topic layout the bridge
// publishes on.
//
// Everything here is a pure function of its arguments: no I/O, no clock, no
// randomness, no package state. Functions are safe for concurrent use and
// Payload is byte-for-byte deterministic for equal inputs, so the bridge can
// compare payloads to skip re-publishing unchanged configs.
//
// # Identity
//
// All identities come from the cloud IDs, never from names: the device
// registry identifier is Identifier(d), each entity's unique_id is
// "<ObjectID>_<component id>_<base topic>". Renaming a device in the vendor
// app only changes the HA device name; entity ids stay.
//
// # State payload contract
//
// Entities read one retained JSON object per device on StateTopic:
//
//	"state"   "ON" | "OFF"  (CapRelay)
//	"led"     "ON" | "OFF"  (CapLED)
//	"power"   number, W     (CapEnergy with ReadingPower)
//	"voltage" number, V     (CapEnergy with ReadingVoltage)
//	"current" number, A     (CapEnergy with ReadingCurrent)
//	"energy"  number, kWh, never decreasing (CapEnergy with ReadingEnergy)
//	"rssi"    number, dBm   (CapRSSI)
//
// An energy sensor is announced only for a reading the device reports
// (cloud.Device.EnergyReadings).
//
// A key may be left out when its value is unknown: the value templates
// render "" for a missing key and Home Assistant ignores that update (the
// entity keeps its last value). An explicit JSON null sets the entity to
// unknown. Every template also renders "" (never a template error) for an
// empty payload, such as the retained clear of a topic, and for one that
// is not JSON; testdata/templates.golden pins this for every template.
//
// Every device is announced with at least one entity: one without any
// known capability gets a connectivity binary sensor on its availability
// topic.
//
// Availability topics (BridgeStateTopic, AvailabilityTopic) carry
// {"state":"online"} or {"state":"offline"}. Commands arrive as plain
// payloads on CommandTopic: "ON"/"OFF" for "state" and "led", "PRESS" for
// "restart".
//
// Clearing a device (an empty retained payload on ConfigTopic) is the
// bridge's job, and so is remembering which components Home Assistant was
// told about: a component left out of a later payload stays in Home
// Assistant until a payload names it with its platform only
// (Device.Removed).
package discovery
