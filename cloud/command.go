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
)

// Command is one request to change a device.
type Command struct {
	DeviceID string
	Action   Action
	// On is the target for ActionSetRelay and ActionSetLED; ignored otherwise.
	On bool
}

// String renders the command for logs, e.g. `set_relay=on 8006…`.
func (c Command) String() string {
	switch c.Action {
	case ActionSetRelay, ActionSetLED:
		v := "off"
		if c.On {
			v = "on"
		}
		return fmt.Sprintf("%s=%s %s", c.Action, v, c.DeviceID)
	default:
		return fmt.Sprintf("%s %s", c.Action, c.DeviceID)
	}
}
