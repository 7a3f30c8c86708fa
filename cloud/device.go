package cloud

import "slices"

// Capability is one thing a device can do or report. The bridge publishes
// entities and accepts commands only for the capabilities a device declares.
// The light capabilities (CapLight and the ones it carries) are in light.go.
type Capability string

const (
	// CapRelay: the device (or strip outlet) has an on/off relay.
	CapRelay Capability = "relay"
	// CapEnergy: the device has an energy meter, which reports the
	// values Device.Readings lists (power, voltage, current, energy).
	CapEnergy Capability = "energy"
	// CapRSSI: the device reports its Wi-Fi signal strength in dBm.
	CapRSSI Capability = "rssi"
	// CapLED: the device has a status LED that can be switched on and off.
	CapLED Capability = "led"
	// CapReboot: the device can be rebooted remotely.
	CapReboot Capability = "reboot"
)

// Reading is one value the energy meter of a device with CapEnergy
// reports (Device.Readings).
type Reading string

const (
	// ReadingPower is State.PowerW.
	ReadingPower Reading = "power"
	// ReadingVoltage is State.VoltageV.
	ReadingVoltage Reading = "voltage"
	// ReadingCurrent is State.CurrentA.
	ReadingCurrent Reading = "current"
	// ReadingEnergy is State.EnergyKWh, the lifetime total.
	ReadingEnergy Reading = "energy"
)

// AllReadings returns every Reading, in the order Device.Readings keeps
// them: power, voltage, current, energy.
func AllReadings() []Reading {
	return []Reading{ReadingPower, ReadingVoltage, ReadingCurrent, ReadingEnergy}
}

// Device describes one bridged device as the cloud lists it. A power strip is
// one Device for the strip itself plus one Device per outlet whose ParentID
// names the strip.
//
// Device is a plain value: copy it freely. The zero value is not useful.
type Device struct {
	// ID is stable for the life of the device on the account and unique
	// within its provider (Kasa: deviceId, outlets: the child id). It is what
	// Home Assistant unique_ids and the devices.<id> config overrides use.
	ID string
	// Provider is the provider kind, e.g. "kasa".
	Provider string
	// Account is the configured account name the device belongs to.
	Account string
	// Name is the user-given name from the vendor app (decoded, printable).
	Name string
	// Model is the vendor model, e.g. "HS110(EU)".
	Model string
	// Manufacturer is the brand shown in Home Assistant, e.g. "TP-Link".
	Manufacturer string
	// FirmwareVersion and HardwareVersion are as the cloud reports them;
	// empty when unknown.
	FirmwareVersion string
	HardwareVersion string
	// MAC is colon-separated upper-case hex ("50:C7:BF:01:02:03"), or empty.
	MAC string
	// Online is the cloud's own connectivity flag from the device list.
	Online bool
	// ParentID is the ID of the strip this outlet belongs to; empty for
	// stand-alone devices and for the strip itself.
	ParentID string
	// Capabilities lists what the device supports, in a stable order.
	Capabilities []Capability
	// ColorTemp is the colour temperature range of a light with
	// CapColorTemp (Valid); the zero value for every other device.
	ColorTemp KelvinRange
	// Readings are the values the energy meter of a device with CapEnergy
	// reports, in AllReadings order, as the provider decided when it
	// listed the device: what the device answered, or its data points (a
	// Kasa plug: all four; a Kasa bulb: power and energy; a Tuya plug:
	// those of cur_power, cur_voltage, cur_current and add_ele it has).
	// Only these are published, and Home Assistant is told of no others.
	// Providers list them for every device with CapEnergy; nil there
	// means all four (a Device built in code). Ignored without CapEnergy.
	Readings []Reading
}

// Has reports whether d declares capability c.
func (d Device) Has(c Capability) bool { return slices.Contains(d.Capabilities, c) }

// EnergyReadings returns what d's energy meter reports: d.Readings (all
// four when nil) for a device with CapEnergy, nil for any other.
func (d Device) EnergyReadings() []Reading {
	switch {
	case !d.Has(CapEnergy):
		return nil
	case d.Readings == nil:
		return AllReadings()
	}
	return d.Readings
}

// Reports reports whether d's energy meter reports r (EnergyReadings).
func (d Device) Reports(r Reading) bool { return slices.Contains(d.EnergyReadings(), r) }
