package cloud

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCheckLight(t *testing.T) {
	bulb := Device{ID: "B", Capabilities: []Capability{CapLight, CapBrightness, CapColorTemp, CapColor}, ColorTemp: KelvinRange{Min: 2700, Max: 6500}}
	dimmer := Device{ID: "D", Capabilities: []Capability{CapLight, CapBrightness, CapTransition}}
	plug := Device{ID: "P", Capabilities: []Capability{CapRelay}}
	sec := time.Second
	long := MaxTransition + time.Millisecond
	neg := -time.Millisecond
	cmd := func(on bool, s LightSettings) Command { return Command{Action: ActionSetLight, On: on, Light: s} }
	for _, tc := range []struct {
		d      Device
		cmd    Command
		target error  // nil: accepted
		text   string // in the error
	}{
		{bulb, cmd(true, LightSettings{}), nil, ""},
		{bulb, cmd(false, LightSettings{}), nil, ""},
		{bulb, cmd(true, LightSettings{Brightness: Float(100), ColorTempK: Int(6500)}), nil, ""},
		{bulb, cmd(true, LightSettings{Color: &HS{Hue: 360, Saturation: 0}}), nil, ""},
		{dimmer, cmd(false, LightSettings{Transition: &sec}), nil, ""},
		{dimmer, cmd(true, LightSettings{Brightness: Float(0.4), Transition: new(time.Duration)}), nil, ""},

		{plug, cmd(true, LightSettings{}), ErrUnsupported, "no light capability"},
		{bulb, cmd(true, LightSettings{Brightness: Float(0)}), ErrOutOfRange, "brightness 0 %"},
		{bulb, cmd(true, LightSettings{Brightness: Float(100.5)}), ErrOutOfRange, "at most 100"},
		{bulb, cmd(true, LightSettings{Brightness: Float(math.Inf(1))}), ErrOutOfRange, "+Inf"},
		{bulb, cmd(true, LightSettings{ColorTempK: Int(2699)}), ErrOutOfRange, "2699 K: the light takes 2700–6500 K"},
		{bulb, cmd(true, LightSettings{Color: &HS{Hue: math.NaN(), Saturation: 1}}), ErrOutOfRange, "hue NaN"},
		{bulb, cmd(true, LightSettings{Color: &HS{Hue: 1, Saturation: 100.01}}), ErrOutOfRange, "saturation 100.01"},
		{bulb, cmd(true, LightSettings{Transition: &sec}), ErrUnsupported, "transition: the light has no transition capability"},
		{dimmer, cmd(true, LightSettings{Transition: &long}), ErrOutOfRange, "transition 1h0m0.001s"},
		{dimmer, cmd(true, LightSettings{Transition: &neg}), ErrOutOfRange, "transition -1ms"},
		{dimmer, cmd(true, LightSettings{ColorTempK: Int(3000)}), ErrUnsupported, "color temperature: the light has no color_temp capability"},
		{dimmer, cmd(true, LightSettings{Color: &HS{}}), ErrUnsupported, "color: the light has no color capability"},
		{bulb, cmd(true, LightSettings{ColorTempK: Int(3000), Color: &HS{}}), nil, "both a color temperature and a color"},
		{bulb, cmd(false, LightSettings{Brightness: Float(3)}), nil, "with the light switched off"},
	} {
		err := CheckLight(tc.d, tc.cmd)
		switch {
		case tc.text == "" && err != nil:
			t.Errorf("CheckLight(%s, %s) = %v, want nil", tc.d.ID, tc.cmd, err)
		case tc.text != "" && (err == nil || !strings.Contains(err.Error(), tc.text)):
			t.Errorf("CheckLight(%s, %s) = %v, want an error containing %q", tc.d.ID, tc.cmd, err, tc.text)
		case tc.target != nil && !errors.Is(err, tc.target):
			t.Errorf("CheckLight(%s, %s) = %v, want it to wrap %v", tc.d.ID, tc.cmd, err, tc.target)
		}
	}
}

func TestKelvinRange(t *testing.T) {
	if (KelvinRange{}).Valid() || !(KelvinRange{2500, 9000}).Valid() || (KelvinRange{6500, 2700}).Valid() || (KelvinRange{500, 2700}).Valid() {
		t.Error("Valid accepts the wrong ranges")
	}
	r := KelvinRange{2700, 5000}
	if !r.Contains(2700) || !r.Contains(5000) || r.Contains(5001) || r.String() != "2700–5000 K" {
		t.Errorf("Contains or String of %v wrong", r)
	}
}

func TestCommandString_Light(t *testing.T) {
	tr := 1500 * time.Millisecond
	c := Command{DeviceID: "X", Action: ActionSetLight, On: true, Light: LightSettings{Brightness: Float(50), ColorTempK: Int(2700), Transition: &tr}}
	if got := c.String(); got != "set_light=on brightness=50% color_temp=2700K transition=1.5s X" {
		t.Errorf("String() = %q", got)
	}
	if got := (Command{DeviceID: "X", Action: ActionSetRelay}).String(); got != "set_relay=off X" {
		t.Errorf("relay String() = %q", got)
	}
}
