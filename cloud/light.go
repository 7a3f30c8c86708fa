package cloud

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Light capabilities. A light declares CapLight and, on top of it, what it
// can do besides switching: a dimmer CapBrightness (and CapTransition
// where the device fades), a colour bulb CapBrightness, CapColorTemp and
// CapColor. The others are meaningless without CapLight.
const (
	// CapLight: the device is a light. Its on/off state is State.Light.On
	// (never State.Relay) and ActionSetLight switches and sets it.
	CapLight Capability = "light"
	// CapBrightness: the light dims: LightState.Brightness,
	// LightSettings.Brightness.
	CapBrightness Capability = "brightness"
	// CapColorTemp: the light has tunable white, in Kelvin within
	// Device.ColorTemp: LightState.ColorTempK, LightSettings.ColorTempK.
	CapColorTemp Capability = "color_temp"
	// CapColor: the light takes a hue and saturation: LightState.Hue and
	// Saturation, LightSettings.Color.
	CapColor Capability = "color"
	// CapTransition: the light fades over LightSettings.Transition.
	CapTransition Capability = "transition"
)

// Limits of the light values every provider accepts and reports.
const (
	// MaxHue is the largest hue in degrees (0 and 360 are the same red).
	MaxHue = 360
	// MaxPercent bounds Brightness and Saturation.
	MaxPercent = 100
	// MaxTransition is the longest fade a command may ask for.
	MaxTransition = time.Hour
)

// ErrOutOfRange: a command's value lies outside what the device accepts
// (a colour temperature outside Device.ColorTemp, a brightness above 100 %).
// Nothing was sent.
var ErrOutOfRange = errors.New("value out of range")

// KelvinRange is the colour temperature range of a light, in Kelvin,
// both ends included. The zero value means "no colour temperature".
type KelvinRange struct {
	Min, Max int
}

// Valid reports whether r is a usable range: 1000 K ≤ Min ≤ Max ≤ 20000 K.
func (r KelvinRange) Valid() bool { return 1000 <= r.Min && r.Min <= r.Max && r.Max <= 20000 }

// Contains reports whether k lies within r.
func (r KelvinRange) Contains(k int) bool { return r.Min <= k && k <= r.Max }

// String renders r as "2500–9000 K".
func (r KelvinRange) String() string { return fmt.Sprintf("%d–%d K", r.Min, r.Max) }

// ColorMode is what a light's colour currently comes from.
type ColorMode string

const (
	// ColorModeNone: the light has no colour (brightness or on/off only),
	// or it did not say.
	ColorModeNone ColorMode = ""
	// ColorModeTemp: white at LightState.ColorTempK.
	ColorModeTemp ColorMode = "color_temp"
	// ColorModeHS: LightState.Hue and Saturation.
	ColorModeHS ColorMode = "hs"
)

// LightState is the state of a light (CapLight). Pointer fields are nil
// when the light does not report them or lacks the capability; a light
// that is off still reports the brightness and colour it comes back with
// when the device says so.
type LightState struct {
	// On: the light is lit.
	On bool
	// Brightness in percent, 0 < Brightness ≤ 100 (CapBrightness).
	Brightness *float64
	// Mode says which of ColorTempK or Hue/Saturation is the light's
	// colour now; ColorModeNone for lights without colour.
	Mode ColorMode
	// ColorTempK is the white colour temperature in Kelvin, in
	// ColorModeTemp (CapColorTemp).
	ColorTempK *int
	// Hue in degrees (0–360) and Saturation in percent (0–100), in
	// ColorModeHS (CapColor).
	Hue, Saturation *float64
}

// HS is a hue in degrees (0–360) and a saturation in percent (0–100).
type HS struct {
	Hue, Saturation float64
}

// LightSettings are what an ActionSetLight command changes besides on/off
// (Command.On). Nil fields are left as they are. A command that sets
// Brightness, ColorTempK or Color switches the light on (Command.On must be
// true); ColorTempK and Color exclude each other.
type LightSettings struct {
	// Brightness in percent, 0 < Brightness ≤ 100 (CapBrightness).
	Brightness *float64
	// ColorTempK in Kelvin within Device.ColorTemp (CapColorTemp).
	ColorTempK *int
	// Color (CapColor).
	Color *HS
	// Transition is how long the change takes, 0 to MaxTransition
	// (CapTransition); nil means the device's own default, 0 at once.
	Transition *time.Duration
}

// IsZero reports whether s changes nothing besides on/off.
func (s LightSettings) IsZero() bool {
	return s.Brightness == nil && s.ColorTempK == nil && s.Color == nil && s.Transition == nil
}

// CheckLight reports whether d accepts the ActionSetLight command cmd: an
// error wrapping ErrUnsupported when d lacks a capability the command
// uses, ErrOutOfRange for a value outside its range (or not a finite
// number), and a plain error for a command that contradicts itself
// (settings with On false, both a temperature and a colour). The error
// names the value. Providers call it before sending; the bridge before
// queuing, to answer the user at once.
func CheckLight(d Device, cmd Command) error {
	if !d.Has(CapLight) {
		return fmt.Errorf("device has no %s capability: %w", CapLight, ErrUnsupported)
	}
	s := cmd.Light
	need := func(c Capability, what string) error {
		if !d.Has(c) {
			return fmt.Errorf("%s: the light has no %s capability: %w", what, c, ErrUnsupported)
		}
		return nil
	}
	if s.Brightness != nil {
		if err := need(CapBrightness, "brightness"); err != nil {
			return err
		}
		if b := *s.Brightness; !finite(b) || b <= 0 || b > MaxPercent {
			return fmt.Errorf("brightness %s %%: want more than 0 and at most %d: %w", num(b), MaxPercent, ErrOutOfRange)
		}
	}
	if s.ColorTempK != nil {
		if err := need(CapColorTemp, "color temperature"); err != nil {
			return err
		}
		if k := *s.ColorTempK; !d.ColorTemp.Contains(k) {
			return fmt.Errorf("color temperature %d K: the light takes %s: %w", k, d.ColorTemp, ErrOutOfRange)
		}
	}
	if s.Color != nil {
		if err := need(CapColor, "color"); err != nil {
			return err
		}
		if h := s.Color.Hue; !finite(h) || h < 0 || h > MaxHue {
			return fmt.Errorf("hue %s: want 0 to %d degrees: %w", num(h), MaxHue, ErrOutOfRange)
		}
		if sat := s.Color.Saturation; !finite(sat) || sat < 0 || sat > MaxPercent {
			return fmt.Errorf("saturation %s: want 0 to %d %%: %w", num(sat), MaxPercent, ErrOutOfRange)
		}
	}
	if s.Transition != nil {
		if err := need(CapTransition, "transition"); err != nil {
			return err
		}
		if t := *s.Transition; t < 0 || t > MaxTransition {
			return fmt.Errorf("transition %s: want 0 to %s: %w", t, MaxTransition, ErrOutOfRange)
		}
	}
	switch {
	case s.ColorTempK != nil && s.Color != nil:
		return errors.New("both a color temperature and a color: send one")
	case !cmd.On && (s.Brightness != nil || s.ColorTempK != nil || s.Color != nil):
		return errors.New("brightness or color with the light switched off: a change of brightness or color switches it on")
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func num(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// String renders the settings for Command.String, e.g.
// " brightness=50% color_temp=2700K transition=1s" (empty for none).
func (s LightSettings) String() string {
	var b strings.Builder
	if s.Brightness != nil {
		fmt.Fprintf(&b, " brightness=%s%%", num(*s.Brightness))
	}
	if s.ColorTempK != nil {
		fmt.Fprintf(&b, " color_temp=%dK", *s.ColorTempK)
	}
	if s.Color != nil {
		fmt.Fprintf(&b, " hs=%s,%s", num(s.Color.Hue), num(s.Color.Saturation))
	}
	if s.Transition != nil {
		fmt.Fprintf(&b, " transition=%s", *s.Transition)
	}
	return b.String()
}
