package cloudtest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// LightKind is a kind of light a LightCloud can add.
type LightKind int

const (
	// LightDimmer is a wall dimmer: on/off and brightness.
	LightDimmer LightKind = iota + 1
	// LightColor is a colour bulb: brightness, colour temperature and
	// hue/saturation.
	LightColor
	// LightWhite is a tunable-white bulb: brightness and colour
	// temperature.
	LightWhite
	// LightDimmable is a bulb with brightness only.
	LightDimmable
)

var lightKinds = []LightKind{LightDimmer, LightColor, LightWhite, LightDimmable}

func (k LightKind) String() string {
	switch k {
	case LightDimmer:
		return "dimmer"
	case LightColor:
		return "colour bulb"
	case LightWhite:
		return "tunable-white bulb"
	case LightDimmable:
		return "dimmable bulb"
	}
	return fmt.Sprintf("LightKind(%d)", int(k))
}

// LightCloud is a Cloud with lights. Run checks the light part of the
// contract (the "Lights" check) only on Clouds that implement it; on the
// others that check passes without testing anything.
type LightCloud interface {
	Cloud
	// AddLight adds a light of the given kind, online and off, and
	// returns the ID the provider lists it under, or "" when the cloud
	// has no light of that kind.
	AddLight(name string, kind LightKind) string
	// Light reports the light as the device has it: on/off, brightness,
	// and the colour it shows (Mode with ColorTempK or Hue and
	// Saturation).
	Light(id string) cloud.LightState
}

// wantCaps are the light capabilities each kind must declare (besides
// CapLight) and must not declare.
var lightCaps = map[LightKind]struct{ has, hasNot []cloud.Capability }{
	LightDimmer:   {has: []cloud.Capability{cloud.CapBrightness}, hasNot: []cloud.Capability{cloud.CapColorTemp, cloud.CapColor}},
	LightColor:    {has: []cloud.Capability{cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor}},
	LightWhite:    {has: []cloud.Capability{cloud.CapBrightness, cloud.CapColorTemp}, hasNot: []cloud.Capability{cloud.CapColor}},
	LightDimmable: {has: []cloud.Capability{cloud.CapBrightness}, hasNot: []cloud.Capability{cloud.CapColorTemp, cloud.CapColor}},
}

// checkLights: every kind of light is listed with exactly its
// capabilities (never CapRelay: a light's on/off is State.Light), read
// with a State.Light and no relay, and switched, dimmed, set to a
// temperature and re-coloured by ActionSetLight, the device and the next
// read agreeing; commands the light cannot take are refused without a
// call, with cloud.ErrUnsupported or cloud.ErrOutOfRange.
func checkLights(c *check) {
	lc, ok := c.cloud.(LightCloud)
	if !ok {
		c.Logf("the cloud has no lights (it does not implement cloudtest.LightCloud)")
		return
	}
	plug := lc.AddPlug("Hall Plug")
	ids := map[LightKind]string{}
	for _, k := range lightKinds {
		if id := lc.AddLight("Light "+k.String(), k); id != "" {
			ids[k] = id
		}
	}
	if len(ids) == 0 {
		c.Fatalf("the cloud added no light of any kind")
	}
	p := c.provider(Options{})
	devs := c.list(p)
	if devs[plug].Has(cloud.CapLight) {
		c.Errorf("a plug declares %s", cloud.CapLight)
	}
	c.wantUnsupported(p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetLight, On: true})
	for _, k := range lightKinds {
		id, ok := ids[k]
		if !ok {
			c.Logf("no %s on this cloud", k)
			continue
		}
		d, ok := devs[id]
		if !ok {
			c.Fatalf("%s %s not listed", k, id)
		}
		c.lightCaps(k, d)
		c.lightRoundTrip(p, lc, k, d)
		c.lightRefusals(p, d)
	}
}

// lightCaps checks the capabilities and the Kelvin range of a light.
func (c *check) lightCaps(k LightKind, d cloud.Device) {
	c.Helper()
	want := lightCaps[k]
	for _, cp := range append([]cloud.Capability{cloud.CapLight}, want.has...) {
		if !d.Has(cp) {
			c.Errorf("%s %s lacks %s: has %v", k, d.ID, cp, d.Capabilities)
		}
	}
	for _, cp := range append([]cloud.Capability{cloud.CapRelay}, want.hasNot...) {
		if d.Has(cp) {
			c.Errorf("%s %s declares %s: has %v", k, d.ID, cp, d.Capabilities)
		}
	}
	if d.Has(cloud.CapColorTemp) != d.ColorTemp.Valid() || (!d.Has(cloud.CapColorTemp) && d.ColorTemp != (cloud.KelvinRange{})) {
		c.Errorf("%s %s: ColorTemp %+v with capabilities %v: want a valid range exactly with %s", k, d.ID, d.ColorTemp, d.Capabilities, cloud.CapColorTemp)
	}
}

// lightRoundTrip switches, dims, sets the temperature and the colour of a
// light and checks the device and the read after each step.
func (c *check) lightRoundTrip(p cloud.Provider, lc LightCloud, k LightKind, d cloud.Device) {
	c.Helper()
	st := c.readOK(p, d.ID)[d.ID]
	if st.Light == nil || st.Relay != nil {
		c.Fatalf("%s %s read with Light %+v and Relay %s: want a light state and no relay", k, d.ID, st.Light, boolText(st.Relay))
	}
	if st.Light.On {
		c.Errorf("%s %s added off, read as on", k, d.ID)
	}
	steps := []struct {
		what string
		cmd  cloud.Command
	}{
		{"switched on", lightCmd(d.ID, true, cloud.LightSettings{})},
		{"dimmed to 30 %", lightCmd(d.ID, true, cloud.LightSettings{Brightness: cloud.Float(30)})},
	}
	if d.Has(cloud.CapColorTemp) {
		mid := (d.ColorTemp.Min + d.ColorTemp.Max) / 200 * 100
		steps = append(steps, struct {
			what string
			cmd  cloud.Command
		}{fmt.Sprintf("set to %d K", mid), lightCmd(d.ID, true, cloud.LightSettings{ColorTempK: cloud.Int(mid)})})
	}
	if d.Has(cloud.CapColor) {
		steps = append(steps, struct {
			what string
			cmd  cloud.Command
		}{"coloured green at 60 %", lightCmd(d.ID, true, cloud.LightSettings{Color: &cloud.HS{Hue: 120, Saturation: 60}, Brightness: cloud.Float(80)})})
	}
	steps = append(steps, struct {
		what string
		cmd  cloud.Command
	}{"switched off", lightCmd(d.ID, false, cloud.LightSettings{})})
	for _, s := range steps {
		c.apply(p, s.cmd)
		dev := lc.Light(d.ID)
		if msg := lightDiff(s.cmd, d, dev); msg != "" {
			c.Errorf("%s %s %s: the device %s", k, d.ID, s.what, msg)
		}
		read := c.readOK(p, d.ID)[d.ID].Light
		if read == nil {
			c.Errorf("%s %s %s: read without a light state", k, d.ID, s.what)
			continue
		}
		if msg := lightDiff(s.cmd, d, *read); msg != "" {
			c.Errorf("%s %s %s: read back %s", k, d.ID, s.what, msg)
		}
		c.lightStateValid(k, d, *read)
	}
}

// lightRefusals: commands the light cannot take fail without a call.
func (c *check) lightRefusals(p cloud.Provider, d cloud.Device) {
	c.Helper()
	var bad []cloud.Command
	add := func(s cloud.LightSettings) { bad = append(bad, lightCmd(d.ID, true, s)) }
	add(cloud.LightSettings{Brightness: cloud.Float(0)})
	add(cloud.LightSettings{Brightness: cloud.Float(101)})
	add(cloud.LightSettings{Brightness: cloud.Float(math.NaN())})
	if d.Has(cloud.CapColorTemp) {
		add(cloud.LightSettings{ColorTempK: cloud.Int(d.ColorTemp.Max + 1)})
		add(cloud.LightSettings{ColorTempK: cloud.Int(d.ColorTemp.Min - 1)})
	} else {
		add(cloud.LightSettings{ColorTempK: cloud.Int(3000)})
	}
	if d.Has(cloud.CapColor) {
		add(cloud.LightSettings{Color: &cloud.HS{Hue: 361, Saturation: 50}})
		add(cloud.LightSettings{Color: &cloud.HS{Hue: 10, Saturation: -1}})
	} else {
		add(cloud.LightSettings{Color: &cloud.HS{Hue: 10, Saturation: 50}})
	}
	if !d.Has(cloud.CapTransition) {
		tr := time.Second
		add(cloud.LightSettings{Transition: &tr})
	}
	for _, cmd := range bad {
		before, _ := c.obs.counts()
		err := p.Apply(c.ctx(), cmd)
		c.track(err)
		after, _ := c.obs.counts()
		if !errors.Is(err, cloud.ErrUnsupported) && !errors.Is(err, cloud.ErrOutOfRange) {
			c.Errorf("Apply(%s): %v, want cloud.ErrUnsupported or cloud.ErrOutOfRange", cmd, err)
		}
		if after != before {
			c.Errorf("Apply(%s) made %d cloud calls, want none", cmd, after-before)
		}
	}
}

// lightStateValid checks a read light state against the light's
// capabilities and the value ranges of package cloud.
func (c *check) lightStateValid(k LightKind, d cloud.Device, s cloud.LightState) {
	c.Helper()
	bad := func(format string, args ...any) {
		c.Errorf("%s %s read %+v: %s", k, d.ID, s, fmt.Sprintf(format, args...))
	}
	if b := s.Brightness; b != nil && (!d.Has(cloud.CapBrightness) || *b <= 0 || *b > cloud.MaxPercent) {
		bad("brightness %v %% without %s or outside (0, 100]", *b, cloud.CapBrightness)
	}
	switch s.Mode {
	case cloud.ColorModeNone:
	case cloud.ColorModeTemp:
		if !d.Has(cloud.CapColorTemp) || s.ColorTempK == nil || *s.ColorTempK <= 0 {
			bad("color_temp mode without %s or a temperature", cloud.CapColorTemp)
		}
	case cloud.ColorModeHS:
		if !d.Has(cloud.CapColor) || s.Hue == nil || s.Saturation == nil {
			bad("hs mode without %s or a hue and saturation", cloud.CapColor)
		} else if *s.Hue < 0 || *s.Hue > cloud.MaxHue || *s.Saturation < 0 || *s.Saturation > cloud.MaxPercent {
			bad("hue or saturation out of range")
		}
	default:
		bad("unknown color mode %q", s.Mode)
	}
	if s.ColorTempK != nil && !d.Has(cloud.CapColorTemp) {
		bad("a color temperature without %s", cloud.CapColorTemp)
	}
	if (s.Hue != nil || s.Saturation != nil) && !d.Has(cloud.CapColor) {
		bad("a hue or saturation without %s", cloud.CapColor)
	}
}

// lightDiff describes how s differs from what cmd asked of light d, or
// returns "". Brightness and hue/saturation may be off by 1 (the device's
// resolution), a temperature by 1 % of the light's range.
func lightDiff(cmd cloud.Command, d cloud.Device, s cloud.LightState) string {
	if s.On != cmd.On {
		return fmt.Sprintf("is on=%v, want on=%v", s.On, cmd.On)
	}
	set := cmd.Light
	near := func(got *float64, want, tol float64) bool { return got != nil && math.Abs(*got-want) <= tol }
	if set.Brightness != nil && !near(s.Brightness, *set.Brightness, 1) {
		return fmt.Sprintf("has brightness %s, want %v", floatText(s.Brightness), *set.Brightness)
	}
	if set.ColorTempK != nil {
		tol := float64(d.ColorTemp.Max-d.ColorTemp.Min)/100 + 1
		if s.Mode != cloud.ColorModeTemp || s.ColorTempK == nil || math.Abs(float64(*s.ColorTempK-*set.ColorTempK)) > tol {
			return fmt.Sprintf("shows %q at %s K, want color_temp at %d K", s.Mode, intText(s.ColorTempK), *set.ColorTempK)
		}
	}
	if hs := set.Color; hs != nil {
		if s.Mode != cloud.ColorModeHS || !near(s.Hue, hs.Hue, 1) || !near(s.Saturation, hs.Saturation, 1) {
			return fmt.Sprintf("shows %q at hue %s, saturation %s, want hs %v, %v", s.Mode, floatText(s.Hue), floatText(s.Saturation), hs.Hue, hs.Saturation)
		}
	}
	return ""
}

func lightCmd(id string, on bool, s cloud.LightSettings) cloud.Command {
	return cloud.Command{DeviceID: id, Action: cloud.ActionSetLight, On: on, Light: s}
}

func intText(i *int) string {
	if i == nil {
		return "no"
	}
	return fmt.Sprint(*i)
}

// isLightCap reports whether cp is one of the capabilities a light
// declares on top of CapLight.
func isLightCap(cp cloud.Capability) bool {
	return slices.Contains([]cloud.Capability{cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor, cloud.CapTransition}, cp)
}
