package discovery

import (
	"slices"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// checkLightComponent checks a light entity against Home Assistant's rules
// for the JSON schema and against the device's capabilities.
func checkLightComponent(tb testing.TB, d Device, id string, comp component) {
	tb.Helper()
	if comp.Schema != "json" || comp.StateTopic != "" || comp.ValueTemplate != "" {
		tb.Errorf("light %q: schema %q, state_topic %q, value_template %q: want the JSON schema on the device's state topic",
			id, comp.Schema, comp.StateTopic, comp.ValueTemplate)
	}
	modes := comp.SupportedColorModes
	if !slices.Equal(modes, ColorModes(d.Device)) {
		tb.Errorf("light %q supported_color_modes %v, want %v for capabilities %v", id, modes, ColorModes(d.Device), d.Capabilities)
	}
	for _, m := range modes {
		if (m == ColorModeOnOff || m == ColorModeBrightness) && len(modes) > 1 {
			tb.Errorf("light %q: %q must be alone in supported_color_modes %v", id, m, modes)
		}
	}
	ct := slices.Contains(modes, ColorModeTemp)
	if ct != comp.ColorTempKelvin {
		tb.Errorf("light %q: color_temp_kelvin %v with modes %v: Kelvin exactly when it has color_temp", id, comp.ColorTempKelvin, modes)
	}
	if ct && (comp.MinKelvin != d.ColorTemp.Min || comp.MaxKelvin != d.ColorTemp.Max || comp.MinKelvin >= comp.MaxKelvin) {
		tb.Errorf("light %q: Kelvin bounds %d–%d, want the device's %s", id, comp.MinKelvin, comp.MaxKelvin, d.ColorTemp)
	}
	if !ct && (comp.MinKelvin != 0 || comp.MaxKelvin != 0) {
		tb.Errorf("light %q: Kelvin bounds without color_temp", id)
	}
	if comp.Transition == nil || *comp.Transition != d.Has(cloud.CapTransition) {
		tb.Errorf("light %q: transition %v, want %v", id, comp.Transition, d.Has(cloud.CapTransition))
	}
}

func TestColorModes(t *testing.T) {
	light := func(caps ...cloud.Capability) cloud.Device {
		return cloud.Device{Capabilities: append([]cloud.Capability{cloud.CapLight}, caps...)}
	}
	for _, tc := range []struct {
		d    cloud.Device
		want []string
	}{
		{cloud.Device{Capabilities: []cloud.Capability{cloud.CapRelay}}, nil},
		{light(), []string{"onoff"}},
		{light(cloud.CapTransition), []string{"onoff"}},
		{light(cloud.CapBrightness), []string{"brightness"}},
		{light(cloud.CapBrightness, cloud.CapColorTemp), []string{"color_temp"}},
		{light(cloud.CapBrightness, cloud.CapColor), []string{"hs"}},
		{light(cloud.CapColor, cloud.CapBrightness, cloud.CapColorTemp), []string{"color_temp", "hs"}},
	} {
		if got := ColorModes(tc.d); !slices.Equal(got, tc.want) {
			t.Errorf("ColorModes(%v) = %v, want %v", tc.d.Capabilities, got, tc.want)
		}
	}
}

func TestPayload_LightReplacesNothingElse(t *testing.T) {
	d := fixtures["dimmer"]
	p := decode(t, mustPayload(t, testConfig, d))
	if _, ok := p.Components["switch"]; ok {
		t.Error("a dimmer (a light without a relay) got a switch entity")
	}
	l, ok := p.Components["light"]
	if !ok || l.DefaultEntityID != "light.hall_dimmer" || l.CommandTopic != "kasa2mqtt/hall_dimmer/set" {
		t.Errorf("dimmer's light component = %+v", l)
	}
}
