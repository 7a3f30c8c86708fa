package kasa

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// call is one module.method of a device request whose answer is checked.
type call struct{ module, method string }

// applyLight sends a set_light command to a light in one passthrough,
// after cloud.CheckLight: a dimmer through its relay and
// smartlife.iot.dimmer, a bulb through transition_light_state, a strip
// through smartlife.iot.lightStrip.set_light_state.
func (p *Provider) applyLight(ctx context.Context, t target, cmd cloud.Command) error {
	si := t.ref.info
	dev := cloud.Device{ID: cmd.DeviceID, Capabilities: t.caps}
	dev.ColorTemp, _ = si.kelvinRange()
	if err := cloud.CheckLight(dev, cmd); err != nil {
		return err
	}
	var (
		req   deviceRequest
		calls []call
	)
	switch si.Kind {
	case lightDimmer:
		req, calls = dimmerRequest(si, cmd)
	case lightBulb:
		req, calls = bulbRequest(moduleBulb, "transition_light_state", cmd)
	case lightStrip:
		req, calls = bulbRequest(moduleStrip, "set_light_state", cmd)
	default:
		return fmt.Errorf("not a light: %w", cloud.ErrUnsupported)
	}
	resp, err := p.passthrough(ctx, t.ref, req)
	if err != nil {
		return err
	}
	for _, c := range calls {
		if _, err := resp.result(c.module, c.method); err != nil {
			return err
		}
	}
	return nil
}

// percent is a brightness for the device: whole percent, 1 to 100 (a
// brightness above 0 never becomes 0, which would mean off).
func percent(b float64) int { return min(100, max(1, int(math.Round(b)))) }

// millis is a transition in ms; 0 without one.
func millis(s cloud.LightSettings) int {
	if s.Transition == nil {
		return 0
	}
	return int(s.Transition.Round(time.Millisecond).Milliseconds())
}

// dimmerRequest maps a light command onto a dimmer: on/off is the relay
// (system.set_relay_state); a brightness is smartlife.iot.dimmer
// set_brightness (which leaves the relay as it is, so the relay is
// switched on in the same request); a transition is set_dimmer_transition,
// which switches on at a brightness (the one asked, else the current one)
// or off at brightness 0. A transition of 0 is no fade.
func dimmerRequest(si *sysinfo, cmd cloud.Command) (deviceRequest, []call) {
	s := cmd.Light
	ms := millis(s)
	relay := func(on bool) (deviceRequest, []call) {
		return newRequest("system", "set_relay_state", map[string]any{"state": bit(on)}), []call{{"system", "set_relay_state"}}
	}
	fade := func(b int) (deviceRequest, []call) {
		return newRequest(moduleDimmer, "set_dimmer_transition", map[string]any{"brightness": b, "duration": ms}),
			[]call{{moduleDimmer, "set_dimmer_transition"}}
	}
	switch {
	case !cmd.On && ms > 0:
		return fade(0)
	case !cmd.On:
		return relay(false)
	case ms > 0 && s.Brightness != nil:
		return fade(percent(*s.Brightness))
	case ms > 0 && si.Brightness != nil:
		return fade(*si.Brightness)
	case s.Brightness != nil:
		req, calls := relay(true)
		req.add(moduleDimmer, "set_brightness", map[string]any{"brightness": percent(*s.Brightness)})
		return req, append(calls, call{moduleDimmer, "set_brightness"})
	}
	return relay(true)
}

// bulbRequest maps a light command onto a bulb's or strip's light state
// (python-kasa _set_light_state): on_off, brightness in percent, a
// temperature in K, or hue and saturation with color_temp 0 (colour
// mode); transition_period in ms. ignore_default is 0 only for a plain
// "on" (the light comes back as it was), 1 whenever a value is set (else
// the light ignores it).
func bulbRequest(module, method string, cmd cloud.Command) (deviceRequest, []call) {
	s := cmd.Light
	st := map[string]any{"on_off": bit(cmd.On)}
	if cmd.On {
		if s.Brightness != nil {
			st["brightness"] = percent(*s.Brightness)
		}
		if s.ColorTempK != nil {
			st["color_temp"] = *s.ColorTempK
		}
		if hs := s.Color; hs != nil {
			st["hue"] = int(math.Round(hs.Hue))
			st["saturation"] = int(math.Round(hs.Saturation))
			st["color_temp"] = 0
		}
	}
	if s.Transition != nil {
		st["transition_period"] = millis(s)
	}
	st["ignore_default"] = 1
	if cmd.On && s.Brightness == nil && s.ColorTempK == nil && s.Color == nil {
		st["ignore_default"] = 0
	}
	return newRequest(module, method, st), []call{{module, method}}
}
