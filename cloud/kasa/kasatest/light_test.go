package kasatest_test

import (
	"encoding/json"
	"testing"
)

// The fake refuses what the real devices refuse: the bulb service on a
// strip (-2001, as a KL420L5 answers) and on a dimmer (module not
// support, as the HS220 fixture shows), the strip service on a bulb, the
// relay on a bulb, and a bulb's values outside its flags and range.
func TestServer_LightsRefuseTheWrongService(t *testing.T) {
	s := newServer(t)
	token, _ := login(t, s)
	dim := s.AddDimmer("u@example.com", "Hall", "HS220(US)")
	strip := s.AddLightStrip("u@example.com", "Shelf", "KL430(US)", 16, true)
	bulb := s.AddBulb("u@example.com", "Reading", "KL130(US)", true, true)
	white := s.AddBulb("u@example.com", "Bedside", "KL120(US)", false, true)
	for _, tc := range []struct {
		id, module, method string
		arg                map[string]any
		want               string
	}{
		{strip, "smartlife.iot.smartbulb.lightingservice", "transition_light_state", map[string]any{"on_off": 1}, `{"err_code":-2001,"err_msg":"Module not support"}`},
		{dim, "smartlife.iot.smartbulb.lightingservice", "transition_light_state", map[string]any{"on_off": 1}, `{"err_code":-1,"err_msg":"module not support"}`},
		{bulb, "smartlife.iot.lightStrip", "set_light_state", map[string]any{"on_off": 1}, `{"err_code":-1,"err_msg":"module not support"}`},
		{bulb, "smartlife.iot.dimmer", "set_brightness", map[string]any{"brightness": 5}, `{"err_code":-1,"err_msg":"module not support"}`},
		{bulb, "system", "set_relay_state", map[string]any{"state": 1}, `{"set_relay_state":{"err_code":-2,"err_msg":"member not support"}}`},
		{dim, "smartlife.iot.dimmer", "set_brightness", map[string]any{"brightness": 0}, `{"set_brightness":{"err_code":-3,"err_msg":"invalid argument"}}`},
		{dim, "smartlife.iot.dimmer", "set_dimmer_transition", map[string]any{"brightness": 50, "duration": 0}, `{"set_dimmer_transition":{"err_code":-3,"err_msg":"invalid argument"}}`},
		{white, "smartlife.iot.smartbulb.lightingservice", "transition_light_state", map[string]any{"on_off": 1, "ignore_default": 1, "hue": 5, "saturation": 5},
			`{"transition_light_state":{"err_code":-3,"err_msg":"invalid argument: not a color light"}}`},
		{white, "smartlife.iot.smartbulb.lightingservice", "transition_light_state", map[string]any{"on_off": 1, "ignore_default": 1, "color_temp": 6500},
			`{"transition_light_state":{"err_code":-3,"err_msg":"invalid argument: color_temp"}}`},
	} {
		r, resp := passthrough(t, s, token, tc.id, map[string]any{tc.module: map[string]any{tc.method: tc.arg}})
		got, _ := json.Marshal(resp[tc.module])
		if r.ErrorCode != 0 || string(got) != tc.want {
			t.Errorf("%s.%s %v: %d %s, want %s", tc.module, tc.method, tc.arg, r.ErrorCode, got, tc.want)
		}
	}
}

// ignore_default 0 brings a bulb back as it was, whatever else the request
// holds; 1 applies the values.
func TestServer_BulbIgnoreDefault(t *testing.T) {
	s := newServer(t)
	token, _ := login(t, s)
	bulb := s.AddBulb("u@example.com", "Reading", "KL130(US)", true, true)
	set := func(arg map[string]any) {
		t.Helper()
		r, resp := passthrough(t, s, token, bulb, map[string]any{"smartlife.iot.smartbulb.lightingservice": map[string]any{"transition_light_state": arg}})
		if r.ErrorCode != 0 || resp == nil {
			t.Fatalf("transition_light_state %v: %+v", arg, r)
		}
	}
	set(map[string]any{"on_off": 1, "ignore_default": 0, "brightness": 90})
	if li := s.Light(bulb); !li.On || li.Brightness != 50 {
		t.Errorf("ignore_default 0: %+v, want on at the old 50 %%", li)
	}
	set(map[string]any{"on_off": 1, "ignore_default": 1, "brightness": 90, "hue": 10, "saturation": 20, "color_temp": 0})
	if li := s.Light(bulb); !li.On || li.Brightness != 90 || li.ColorTemp != 0 || li.Hue != 10 {
		t.Errorf("ignore_default 1: %+v", li)
	}
	_, resp := passthrough(t, s, token, bulb, map[string]any{"system": map[string]any{"get_sysinfo": nil}})
	ls := resp["system"].(map[string]any)["get_sysinfo"].(map[string]any)["light_state"].(map[string]any)
	if ls["on_off"] != float64(1) || ls["hue"] != float64(10) || ls["color_temp"] != float64(0) {
		t.Errorf("light_state %v", ls)
	}
	set(map[string]any{"on_off": 0, "ignore_default": 1})
	_, resp = passthrough(t, s, token, bulb, map[string]any{"system": map[string]any{"get_sysinfo": nil}})
	ls = resp["system"].(map[string]any)["get_sysinfo"].(map[string]any)["light_state"].(map[string]any)
	if dft, ok := ls["dft_on_state"].(map[string]any); ls["on_off"] != float64(0) || !ok || dft["brightness"] != float64(90) {
		t.Errorf("off light_state %v, want on_off 0 and dft_on_state", ls)
	}
}
