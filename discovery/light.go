package discovery

import "github.com/kasa2mqtt/kasa2mqtt/cloud"

// Home Assistant color modes of a light (supported_color_modes here, and
// color_mode in the state the bridge publishes).
const (
	ColorModeOnOff      = "onoff"
	ColorModeBrightness = "brightness"
	ColorModeTemp       = "color_temp"
	ColorModeHS         = "hs"
)

// ColorModes returns the supported_color_modes of light d, exactly as its
// capabilities say: "color_temp" (CapColorTemp) and "hs" (CapColor), else
// "brightness" (CapBrightness), else "onoff". Nil for a device that is not
// a light (CapLight).
func ColorModes(d cloud.Device) []string {
	if !d.Has(cloud.CapLight) {
		return nil
	}
	var modes []string
	if d.Has(cloud.CapColorTemp) {
		modes = append(modes, ColorModeTemp)
	}
	if d.Has(cloud.CapColor) {
		modes = append(modes, ColorModeHS)
	}
	switch {
	case len(modes) > 0:
		return modes
	case d.Has(cloud.CapBrightness):
		return []string{ColorModeBrightness}
	}
	return []string{ColorModeOnOff}
}

// lightComponent is the light entity of d: Home Assistant's JSON schema on
// the device's state topic (the root state_topic), commands on
// <base>/<topic>/set, temperatures in Kelvin within the device's own
// range. The JSON schema has no value templates: Home Assistant parses the
// state itself, which the bridge keeps parseable (every state payload of a
// light carries "state"; the state topic is cleared only after the
// discovery that removes the light).
func lightComponent(c Config, d Device) component {
	comp := component{
		Name:                nameNull,
		Schema:              "json",
		CommandTopic:        SetTopic(c.BaseTopic, d.Topic),
		SupportedColorModes: ColorModes(d.Device),
		Flash:               ptr(false),
		Transition:          ptr(d.Has(cloud.CapTransition)),
	}
	if d.Has(cloud.CapColorTemp) {
		// Kelvin in commands and state, never mireds; without a valid
		// range (a provider bug) Home Assistant's default range applies.
		comp.ColorTempKelvin = true
		if d.ColorTemp.Valid() {
			comp.MinKelvin, comp.MaxKelvin = d.ColorTemp.Min, d.ColorTemp.Max
		}
	}
	return comp
}
