package bridge

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Light commands: what /set and /set/<prop> carry for lights, in Home
// Assistant's JSON light schema (brightness 0–255, color_temp in Kelvin,
// color {h, s}, transition in seconds), and how they become a
// cloud.Command.

// opt is an optional value of a request: set says it was sent.
type opt[T comparable] struct {
	v   T
	set bool
}

func some[T comparable](v T) opt[T] { return opt[T]{v: v, set: true} }

// lightRequest is the light part of a /set message. Values are checked
// against the ranges every light shares here; against the device's own
// (its Kelvin range, its capabilities) by cloud.CheckLight.
type lightRequest struct {
	brightness opt[float64] // 0–255; 0 switches off
	colorTemp  opt[int]     // Kelvin
	color      opt[cloud.HS]
	transition opt[float64] // seconds
}

func (l lightRequest) empty() bool {
	return !l.brightness.set && !l.colorTemp.set && !l.color.set && !l.transition.set
}

// Ranges of the light values a message may carry.
const (
	maxBrightness = 255
	// maxKelvin bounds color_temp before the device's own range is
	// known to apply (a mired value such as 250 fails there, with the
	// range in the message).
	maxKelvin = 100_000
)

// setJSON parses one light key of a JSON /set (key is lower case);
// ok is false for keys that are not light keys.
func (l *lightRequest) setJSON(key string, raw json.RawMessage) (ok bool, err error) {
	switch key {
	case "brightness":
		l.brightness, err = parseBrightness(key, raw)
	case "color_temp":
		l.colorTemp, err = parseColorTemp(key, raw)
	case "color":
		l.color, err = parseColor(raw)
	case "transition":
		l.transition, err = parseTransition(key, raw)
	default:
		return false, nil
	}
	return true, err
}

// setProp parses the plain payload of /set/<prop> for a light property;
// ok is false for properties that are not light properties.
func (l *lightRequest) setProp(prop string, payload []byte) (ok bool, err error) {
	text := bytes.TrimSpace(payload)
	switch prop {
	case "brightness":
		l.brightness, err = parseBrightness(prop, text)
	case "color_temp":
		l.colorTemp, err = parseColorTemp(prop, text)
	case "color":
		l.color, err = parseColor(text)
	default:
		return false, nil
	}
	return true, err
}

// number reads a JSON number, a JSON string holding one, or (for plain
// payloads) the bare text of one; NaN and infinities are refused.
func number(key string, raw []byte) (float64, error) {
	s := strings.TrimSpace(string(raw))
	if unq, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(unq)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badPayload("%q must be a number, got %s", key, quotePayload(raw))
	}
	return f, nil
}

func parseBrightness(key string, raw []byte) (opt[float64], error) {
	b, err := number(key, raw)
	if err != nil {
		return opt[float64]{}, err
	}
	if b < 0 || b > maxBrightness {
		return opt[float64]{}, badPayload("%q %s is out of range: want 0 to %d (0 switches off)", key, strconv.FormatFloat(b, 'g', -1, 64), maxBrightness)
	}
	return some(b), nil
}

func parseColorTemp(key string, raw []byte) (opt[int], error) {
	k, err := number(key, raw)
	if err != nil {
		return opt[int]{}, err
	}
	if k < 1 || k > maxKelvin {
		return opt[int]{}, badPayload("%q %s is out of range: want a temperature in Kelvin, such as 2700", key, strconv.FormatFloat(k, 'g', -1, 64))
	}
	return some(int(math.Round(k))), nil
}

func parseTransition(key string, raw []byte) (opt[float64], error) {
	t, err := number(key, raw)
	if err != nil {
		return opt[float64]{}, err
	}
	if t < 0 || t > cloud.MaxTransition.Seconds() {
		return opt[float64]{}, badPayload("%q %s is out of range: want 0 to %g seconds", key, strconv.FormatFloat(t, 'g', -1, 64), cloud.MaxTransition.Seconds())
	}
	return some(t), nil
}

// parseColor reads {"h":…,"s":…} (Home Assistant's hs color; "hue" and
// "saturation" are accepted too) or the plain "h,s".
func parseColor(raw []byte) (opt[cloud.HS], error) {
	var h, s []byte
	text := bytes.TrimSpace(raw)
	if len(text) > 0 && text[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(text, &obj); err != nil {
			return opt[cloud.HS]{}, badPayload("\"color\": invalid JSON: %v", err)
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) { // sorted: the same error every time
			v := obj[k]
			switch strings.ToLower(k) {
			case "h", "hue":
				h = v
			case "s", "saturation":
				s = v
			default:
				return opt[cloud.HS]{}, badPayload("\"color\" key %q is not supported: send hue and saturation as {\"h\":0-360,\"s\":0-100}", k)
			}
		}
	} else if a, b, found := bytes.Cut(text, []byte(",")); found {
		h, s = a, b
	}
	if h == nil || s == nil {
		return opt[cloud.HS]{}, badPayload("\"color\" must hold a hue and a saturation, {\"h\":0-360,\"s\":0-100} or \"h,s\", got %s", quotePayload(raw))
	}
	hue, err := number("h", h)
	if err != nil {
		return opt[cloud.HS]{}, err
	}
	sat, err := number("s", s)
	if err != nil {
		return opt[cloud.HS]{}, err
	}
	if hue < 0 || hue > cloud.MaxHue || sat < 0 || sat > cloud.MaxPercent {
		return opt[cloud.HS]{}, badPayload("\"color\" h %g, s %g is out of range: want h 0 to %d, s 0 to %d", hue, sat, cloud.MaxHue, cloud.MaxPercent)
	}
	return some(cloud.HS{Hue: hue, Saturation: sat}), nil
}

// lightCommand turns a /set request for light d into a command: cur is
// the light's on/off as last commanded or read (nil: unknown), for
// TOGGLE. Brightness 0 switches off. A request that contradicts itself
// (OFF with a colour, brightness 0 with a temperature) or that d cannot
// take (cloud.CheckLight) is an error naming the value.
func lightCommand(d cloud.Device, req setRequest, cur *bool) (cloud.Command, error) {
	l := req.light
	cmd := cloud.Command{DeviceID: d.ID, Action: cloud.ActionSetLight}
	switch req.state {
	case switchOn:
		cmd.On = true
	case switchOff:
		cmd.On = false
	case switchToggle:
		if cur == nil {
			return cmd, badPayload("cannot TOGGLE: the current state is not known yet; send ON or OFF")
		}
		cmd.On = !*cur
	default: // a setting without a state switches on
		cmd.On = l.brightness.set || l.colorTemp.set || l.color.set
		if !cmd.On {
			return cmd, badPayload("a transition alone changes nothing: send it with a state, brightness or color")
		}
	}
	if l.brightness.set && l.brightness.v == 0 {
		if req.state == switchOn || l.colorTemp.set || l.color.set {
			return cmd, badPayload("brightness 0 switches the light off: it cannot go with ON, a color temperature or a color")
		}
		cmd.On = false
	} else if l.brightness.set {
		cmd.Light.Brightness = cloud.Float(l.brightness.v * 100 / maxBrightness)
	}
	if l.colorTemp.set {
		cmd.Light.ColorTempK = cloud.Int(l.colorTemp.v)
	}
	if l.color.set {
		hs := l.color.v
		cmd.Light.Color = &hs
	}
	if l.transition.set {
		t := time.Duration(math.Round(l.transition.v*1000)) * time.Millisecond
		cmd.Light.Transition = &t
	}
	if !cmd.On && (cmd.Light.Brightness != nil || cmd.Light.ColorTempK != nil || cmd.Light.Color != nil) {
		return cmd, badPayload("OFF with a brightness or color: send one or the other")
	}
	if err := cloud.CheckLight(d, cmd); err != nil {
		return cmd, badPayload("%v", err)
	}
	return cmd, nil
}

// mergeLight folds next into prev, a light command not sent yet: the
// later value of each setting wins, a temperature replaces a colour and
// the other way round, and switching off drops every setting before it.
func mergeLight(prev, next cloud.Command) cloud.Command {
	if !next.On || !prev.On {
		return next
	}
	out := prev
	n := next.Light
	if n.Brightness != nil {
		out.Light.Brightness = n.Brightness
	}
	if n.ColorTempK != nil {
		out.Light.ColorTempK, out.Light.Color = n.ColorTempK, nil
	}
	if n.Color != nil {
		out.Light.Color, out.Light.ColorTempK = n.Color, nil
	}
	if n.Transition != nil {
		out.Light.Transition = n.Transition
	}
	return out
}

// commandedLight is the light state cmd asks for on top of prev (nil:
// unknown), for publishing optimistically when the re-read failed.
func commandedLight(prev *cloud.LightState, cmd cloud.Command) *cloud.LightState {
	var s cloud.LightState
	if prev != nil {
		s = *prev
	}
	s.On = cmd.On
	if b := cmd.Light.Brightness; b != nil {
		s.Brightness = cloud.Float(*b)
	}
	if k := cmd.Light.ColorTempK; k != nil {
		s.Mode, s.ColorTempK = cloud.ColorModeTemp, cloud.Int(*k)
	}
	if hs := cmd.Light.Color; hs != nil {
		s.Mode, s.Hue, s.Saturation = cloud.ColorModeHS, cloud.Float(hs.Hue), cloud.Float(hs.Saturation)
	}
	return &s
}
