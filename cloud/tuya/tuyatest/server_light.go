package tuyatest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// AddLight adds a light of the given kind and returns its id. It starts
// online and off, white, at full brightness, at the middle of its
// temperature range, its colour red. Commands are checked against the
// specification's types and ranges (see LightKind and lightDP.check).
func (s *Server) AddLight(accessID, name string, kind LightKind) string {
	l, category, product := newLight(kind)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.newDevice(accessID, name, category, product, nil)
	d.light = l
	return d.id
}

// lightChannel finds the light of id, a device id or "<device id>_<switch
// code>" for a channel of a dimmer switch, and the channel's switch code
// (s.mu held).
func (s *Server) lightChannel(id string) (*device, string) {
	dev, code, _ := strings.Cut(id, "_")
	d := s.mustDevice(dev)
	if d.light == nil {
		panic(fmt.Sprintf("tuyatest: device %s is not a light", dev))
	}
	if code == "" {
		code = d.light.dps[0].code
	}
	if p, ok := d.light.dp(code); !ok || p.typ != "Boolean" {
		panic(fmt.Sprintf("tuyatest: light %s has no switch %q", dev, code))
	}
	return d, code
}

// Light reports a light (or a dimmer switch's channel, "<id>_switch_led_N")
// as the device shows it.
func (s *Server) Light(id string) LightState {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, sw := s.lightChannel(id)
	return d.light.view(sw)
}

// DP returns the value of a light's data point: a bool, an int64 or (a
// colour) a JSON string.
func (s *Server) DP(id, code string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := s.lightChannel(id)
	v, ok := d.light.values[code]
	if !ok {
		panic(fmt.Sprintf("tuyatest: light %s has no %s", id, code))
	}
	return v
}

// SetDP sets a light's data point as the app or a remote would; the value
// must be one the cloud accepts in a command (a colour as an object or its
// JSON string). A change is published to the message service.
func (s *Server) SetDP(id, code string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := s.lightChannel(id)
	p, ok := d.light.dp(code)
	if !ok {
		panic(fmt.Sprintf("tuyatest: light %s has no %s", id, code))
	}
	raw, err := json.Marshal(value)
	if err != nil {
		panic(fmt.Sprintf("tuyatest: SetDP %s: %v", code, err))
	}
	v, errCode := p.check(raw)
	if errCode != 0 {
		panic(fmt.Sprintf("tuyatest: SetDP %s = %v: the cloud answers %d", code, value, errCode))
	}
	if d.light.values[code] == v {
		return
	}
	d.light.values[code] = v
	if d.online {
		s.publishStatus(d, []dpValue{{code, v}})
	}
}
