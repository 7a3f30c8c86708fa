package tuyatest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

// The fake's lights: a specification with the standard codes and ranges,
// status values as the cloud reports them (a colour as a JSON string), and
// commands checked by type (2008) and range (1101), all or nothing.
func TestServer_LightSpecificationStatusAndCommands(t *testing.T) {
	s := newFake(t)
	bulb := s.AddLight(id, "Desk Lamp", tuyatest.ColourLight)
	c := newClient(t, s)
	c.grant()

	r := c.get("/v1.0/iot-03/devices/"+bulb+"/specification", nil)
	var spec struct {
		Category  string `json:"category"`
		Functions []struct{ Code, Type, Values string }
	}
	if err := json.Unmarshal(r.Result, &spec); err != nil || spec.Category != "dj" {
		t.Fatalf("specification %s: %v", r.Result, err)
	}
	found := map[string]string{}
	for _, f := range spec.Functions {
		found[f.Code] = f.Type + " " + f.Values
	}
	if !strings.Contains(found["bright_value_v2"], `"max":1000`) || !strings.Contains(found["bright_value_v2"], `"min":10`) ||
		!strings.HasPrefix(found["colour_data_v2"], `Json {"h":{"max":360`) || !strings.Contains(found["work_mode"], `"colour"`) {
		t.Errorf("specification functions %v", found)
	}

	post := func(body string) reply {
		t.Helper()
		return c.do("POST", "/v1.0/iot-03/devices/"+bulb+"/commands", nil, []byte(body))
	}
	if r := post(`{"commands":[{"code":"switch_led","value":true},{"code":"work_mode","value":"colour"},{"code":"colour_data_v2","value":"{\"h\":120,\"s\":600,\"v\":800}"}]}`); !r.Success {
		t.Fatalf("colour command: %+v", r)
	}
	if st := s.Light(bulb); !st.On || !st.Colour || st.Hue != 120 || st.Saturation != 60 || st.Brightness != 80 {
		t.Errorf("after the colour command: %+v", st)
	}
	if v := s.DP(bulb, "colour_data_v2"); v != `{"h":120,"s":600,"v":800}` {
		t.Errorf("colour_data_v2 = %v", v)
	}
	// An object works too (tinytuya sends one).
	if r := post(`{"commands":[{"code":"colour_data_v2","value":{"h":240,"s":1000,"v":1000}}]}`); !r.Success {
		t.Errorf("colour as an object: %+v", r)
	}
	for body, code := range map[string]int{
		`{"commands":[{"code":"bright_value_v2","value":5}]}`:                                        1101,
		`{"commands":[{"code":"bright_value_v2","value":1001}]}`:                                     1101,
		`{"commands":[{"code":"colour_data_v2","value":"{\"h\":361,\"s\":0,\"v\":0}"}]}`:             1101,
		`{"commands":[{"code":"bright_value_v2","value":"500"}]}`:                                    2008,
		`{"commands":[{"code":"bright_value_v2","value":500.5}]}`:                                    2008,
		`{"commands":[{"code":"work_mode","value":"disco"}]}`:                                        2008,
		`{"commands":[{"code":"colour_data_v2","value":"ff0000"}]}`:                                  2008,
		`{"commands":[{"code":"colour_data_v2","value":{"h":1,"s":2}}]}`:                             2008,
		`{"commands":[{"code":"bright_value","value":100}]}`:                                         2008,
		`{"commands":[{"code":"switch_led","value":false},{"code":"temp_value_v2","value":-1}]}`:     1101,
		`{"commands":[{"code":"switch_led","value":false},{"code":"temp_value_v2","value":"warm"}]}`: 2008,
	} {
		if r := post(body); r.Code != code {
			t.Errorf("%s: answered %d, want %d", body, r.Code, code)
		}
	}
	if st := s.Light(bulb); !st.On || st.Hue != 240 {
		t.Errorf("a refused command changed the light: %+v", st)
	}

	// A two-channel dimmer switch: channels by switch code.
	sw := s.AddLight(id, "Landing", tuyatest.DimmerSwitch)
	if r := c.do("POST", "/v1.0/iot-03/devices/"+sw+"/commands", nil,
		[]byte(`{"commands":[{"code":"switch_led_2","value":true},{"code":"bright_value_2","value":505}]}`)); !r.Success {
		t.Fatalf("dimmer switch command: %+v", r)
	}
	if one, two := s.Light(sw+"_switch_led_1"), s.Light(sw+"_switch_led_2"); one.On || !two.On || two.Brightness != 50 {
		t.Errorf("channels after switching the second: %+v, %+v", one, two)
	}
	s.SetDP(sw, "bright_value_1", 10)
	if st := s.Light(sw + "_switch_led_1"); st.Brightness != 0 || st.Kelvin != 0 {
		t.Errorf("channel 1 at its minimum: %+v", st)
	}
}
