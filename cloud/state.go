package cloud

import "time"

// State is one snapshot of a device read from the cloud. Pointer fields are
// nil when the device does not report that value (or does not have the
// capability); a nil field is never published.
type State struct {
	// DeviceID is the Device.ID this snapshot belongs to.
	DeviceID string
	// Online is false when the cloud says the device is unreachable.
	Online bool
	// Relay is the relay (outlet) state: true = on.
	Relay *bool
	// LED is the status LED state: true = LED lit.
	LED *bool
	// Light is the state of a light (CapLight).
	Light *LightState
	// PowerW, VoltageV and CurrentA are instantaneous readings.
	PowerW   *float64
	VoltageV *float64
	CurrentA *float64
	// EnergyKWh is the lifetime energy total. Providers guarantee it never
	// decreases, across device counter resets and daemon restarts.
	EnergyKWh *float64
	// RSSI is the Wi-Fi signal strength in dBm.
	RSSI *int
	// ReadAt is when the snapshot was taken.
	ReadAt time.Time
	// Err is set when this device could not be read; the other fields are
	// then meaningless except DeviceID and Online. errors.Is(Err,
	// ErrDeviceOffline) means the cloud reports the device offline.
	Err error
}

// Bool returns a pointer to b, for building States.
func Bool(b bool) *bool { return &b }

// Float returns a pointer to f, for building States.
func Float(f float64) *float64 { return &f }

// Int returns a pointer to i, for building States.
func Int(i int) *int { return &i }
