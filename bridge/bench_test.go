package bridge

import (
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Hot paths per poll and per command: encoding one device's state and
// parsing one command. Run with: go test -run=^$ -bench=. -benchmem ./bridge
func BenchmarkEncodeState(b *testing.B) {
	d := cloud.Device{ID: "1", Capabilities: []cloud.Capability{cloud.CapRelay, cloud.CapLED, cloud.CapEnergy, cloud.CapRSSI}}
	s := &cloud.State{Relay: cloud.Bool(true), LED: cloud.Bool(true), PowerW: cloud.Float(12.34), VoltageV: cloud.Float(230.1),
		CurrentA: cloud.Float(0.054), EnergyKWh: cloud.Float(123.456), RSSI: cloud.Int(-60)}
	b.ReportAllocs()
	for b.Loop() {
		if encodeState(d, s) == nil {
			b.Fatal("nothing encoded")
		}
	}
}

func BenchmarkParseCommand(b *testing.B) {
	payload := []byte(`{"state":"TOGGLE","led":"off"}`)
	b.ReportAllocs()
	for b.Loop() {
		ct, ok := parseCommandTopic("kasa2mqtt", "kasa2mqtt/living_room_lamp/set")
		if !ok || ct.verb != verbSet {
			b.Fatal("not a command")
		}
		if _, err := parseSet(ct.prop, payload); err != nil {
			b.Fatal(err)
		}
	}
}
