package bridge

import (
	"math"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestEncodeState(t *testing.T) {
	metered := cloud.Device{ID: "1", Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED, cloud.CapEnergy, cloud.CapRSSI}}
	outlet := cloud.Device{ID: "2", Capabilities: []cloud.Capability{cloud.CapRelay}}
	powerOnly := metered
	powerOnly.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
	s := &cloud.State{
		Relay: cloud.Bool(true), LED: cloud.Bool(false),
		PowerW: cloud.Float(12.3456), VoltageV: cloud.Float(230.04), CurrentA: cloud.Float(0.05367), EnergyKWh: cloud.Float(1.23456),
		RSSI: cloud.Int(-61),
	}
	tests := []struct {
		name string
		dev  cloud.Device
		s    *cloud.State
		want string
	}{
		{"metered plug, rounded", metered, s, `{"state":"ON","led":"OFF","power":12.35,"voltage":230,"current":0.054,"energy":1.235,"rssi":-61}`},
		{"outlet shows only its relay", outlet, s, `{"state":"ON"}`},
		{"a meter shows only its readings", powerOnly, s, `{"state":"ON","led":"OFF","power":12.35,"energy":1.235,"rssi":-61}`},
		{"NaN power is not published", metered, &cloud.State{Relay: cloud.Bool(false), PowerW: cloud.Float(math.NaN())}, `{"state":"OFF"}`},
		{"nothing known", outlet, &cloud.State{}, ``},
		{"no state", outlet, nil, ``},
	}
	for _, tt := range tests {
		if got := string(encodeState(tt.dev, tt.s)); got != tt.want {
			t.Errorf("%s: encodeState = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestStateAttributes(t *testing.T) {
	got := stateAttributes([]byte(`{"state":"ON","led":"OFF","power":12.5,"energy":0.001,"rssi":-61}`))
	want := []string{"state=ON", "led=OFF", "power=12.5", "energy=0.001", "rssi=-61"}
	if len(got) != len(want) {
		t.Fatalf("stateAttributes = %v", got)
	}
	for i, a := range got {
		if a.key+"="+string(a.value) != want[i] {
			t.Errorf("attribute %d = %s=%s, want %s", i, a.key, a.value, want[i])
		}
	}
}
