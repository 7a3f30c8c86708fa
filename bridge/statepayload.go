package bridge

import (
	"encoding/json"
	"math"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// statePayload is the retained JSON published on <base>/<dev>. Keys are
// omitted when the device does not report them; Home Assistant ignores the
// update of a sensor whose key is missing.
type statePayload struct {
	State   string   `json:"state,omitempty"`
	LED     string   `json:"led,omitempty"`
	Power   *float64 `json:"power,omitempty"`
	Voltage *float64 `json:"voltage,omitempty"`
	Current *float64 `json:"current,omitempty"`
	Energy  *float64 `json:"energy,omitempty"`
	RSSI    *int     `json:"rssi,omitempty"`
}

func onOff(b *bool) string {
	if b == nil {
		return ""
	}
	if *b {
		return "ON"
	}
	return "OFF"
}

func round(p *float64, places int) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	f := math.Pow10(places)
	v := math.Round(*p*f) / f
	return &v
}

// encodeState renders s for the device's capabilities. It returns nil when
// there is nothing to publish.
func encodeState(d cloud.Device, s *cloud.State) []byte {
	if s == nil {
		return nil
	}
	p := statePayload{}
	if d.Has(cloud.CapRelay) {
		p.State = onOff(s.Relay)
	}
	if d.Has(cloud.CapLED) {
		p.LED = onOff(s.LED)
	}
	if d.Has(cloud.CapEnergy) {
		p.Power = round(s.PowerW, 2)
		p.Voltage = round(s.VoltageV, 1)
		p.Current = round(s.CurrentA, 3)
		p.Energy = round(s.EnergyKWh, 3)
	}
	if d.Has(cloud.CapRSSI) {
		p.RSSI = s.RSSI
	}
	if p == (statePayload{}) {
		return nil
	}
	b, _ := json.Marshal(p) // cannot fail: plain types, NaN removed
	return b
}

// availabilityPayload is {"state":"online"} or {"state":"offline"}.
func availabilityPayload(online bool) []byte {
	if online {
		return []byte(`{"state":"online"}`)
	}
	return []byte(`{"state":"offline"}`)
}

// stateKeys are the keys a state payload may hold, for attribute output.
var stateKeys = []string{"state", "led", "power", "voltage", "current", "energy", "rssi"}

// attribute is one value of a state payload as published in attribute
// output: <base>/<dev>/<key> with the plain value ("ON", "12.5").
type attribute struct {
	key   string
	value []byte
}

// stateAttributes splits an encoded state payload into plain values, in
// stateKeys order.
func stateAttributes(payload []byte) []attribute {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	var out []attribute
	for _, k := range stateKeys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out = append(out, attribute{k, []byte(s)})
		} else {
			out = append(out, attribute{k, raw})
		}
	}
	return out
}
