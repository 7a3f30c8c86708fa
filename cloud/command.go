package cloud

import "fmt"

// Action is what a Command asks a device to do.
type Action string

const (
	// ActionSetRelay switches the relay to Command.On. It is idempotent: the
	// bridge resolves TOGGLE against the last known state before sending.
	ActionSetRelay Action = "set_relay"
	// ActionSetLED switches the status LED to Command.On.
	ActionSetLED Action = "set_led"
	// ActionReboot reboots the device (on a strip: all outlets power-cycle).
	ActionReboot Action = "reboot"
	// ActionSetLight switches a light (CapLight) to Command.On and applies
	// Command.Light. Idempotent like the others: the bridge resolves
	// TOGGLE first. CheckLight says which commands a light accepts.
	ActionSetLight Action = "set_light"
)

// Command is one request to change a device.
type Command struct {
	DeviceID string
	Action   Action
	// On is the target for ActionSetRelay, ActionSetLED and
	// ActionSetLight; ignored otherwise.
	On bool
	// Light is what ActionSetLight changes besides on/off; ignored
	// otherwise.
	Light LightSettings
}

// String renders the command for logs, e.g. `set_relay=on 8006…`,
// `set_light=on brightness=50% 8006…`.
func (c Command) String() string {
	switch c.Action {
	case ActionSetRelay, ActionSetLED, ActionSetLight:
		v := "off"
		if c.On {
			v = "on"
		}
		return fmt.Sprintf("%s=%s%s %s", c.Action, v, c.Light, c.DeviceID)
	default:
		return fmt.Sprintf("%s %s", c.Action, c.DeviceID)
	}
}
