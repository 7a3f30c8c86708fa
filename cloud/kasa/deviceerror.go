package kasa

import (
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// DeviceError is a non-zero err_code reported by the device itself inside a
// successful passthrough envelope: the cloud delivered the request, the
// device refused it.
//
// Codes -1, -2 and -2001 ("module not support", "member not support")
// unwrap to cloud.ErrUnsupported. A DeviceError is never a token problem:
// it never triggers a re-login.
type DeviceError struct {
	// Module and Method name the request part that failed, e.g. "system"
	// and "set_relay_state".
	Module, Method string
	// Code is the device's err_code.
	Code int
	// Msg is the device's err_msg, possibly empty.
	Msg string
}

// Error names module.method, the code and the device's message.
func (e *DeviceError) Error() string {
	s := fmt.Sprintf("%s.%s: device error %d", e.Module, e.Method, e.Code)
	if msg := text.Truncate(e.Msg, 200); msg != "" {
		s += fmt.Sprintf(" (%q)", msg)
	}
	return s
}

// Unwrap returns cloud.ErrUnsupported for the "not supported" codes.
func (e *DeviceError) Unwrap() error {
	switch e.Code {
	case -1, -2, -2001:
		return cloud.ErrUnsupported
	}
	return nil
}
