package discovery

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// FuzzPayload feeds random names, ids, topics, capability sets and
// removed components (comma-separated) to Payload: it must never panic, must fail only with ErrInvalid, and every
// payload it returns must satisfy the same invariants as the fixtures.
func FuzzPayload(f *testing.F) {
	for _, d := range fixtures {
		f.Add("homeassistant", "kasa2mqtt", d.Name, d.ID, d.Provider, d.ParentID, d.Topic, d.MAC, uint8(0x1f), strings.Join(d.Removed, ","))
	}
	f.Add("ha", "k/2", "", "a+b", "kasa", "", "x", "", uint8(0), "switch,led,")
	f.Add("h", "b", "\xff", "\x00", "", "p", "bridge", "zz", uint8(0xff), "\x00")
	f.Add("h", "b", "n", "id", "kasa", "id", "t/", "00:00:00:00:00:00", uint8(1), "")
	f.Add("h/", "b", "n", "id", "kasa", "", "客厅", "50C7BF010203", uint8(3), "power,restart,connectivity")

	caps := []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot}
	f.Fuzz(func(t *testing.T, prefix, base, name, id, provider, parent, topic, mac string, capBits uint8, removed string) {
		c := Config{Prefix: prefix, BaseTopic: base, Origin: testConfig.Origin}
		d := Device{Topic: topic, Removed: strings.Split(removed, ","), Device: cloud.Device{
			ID: id, Provider: provider, ParentID: parent, Name: name, MAC: mac,
			Model: name, Manufacturer: name, FirmwareVersion: name, HardwareVersion: name,
		}}
		for i, cp := range caps {
			if capBits&(1<<i) != 0 {
				d.Capabilities = append(d.Capabilities, cp)
			}
		}
		if capBits&0x80 != 0 {
			d.Capabilities = append(d.Capabilities, "unknown")
		}
		if capBits&0x20 != 0 {
			d.Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
		}
		if capBits&0x40 != 0 {
			d.Readings = append(d.Readings, cloud.ReadingVoltage)
		}

		got, err := Payload(c, d)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if got != nil {
				t.Fatalf("payload returned with error %v", err)
			}
			return
		}
		if !objectIDPattern.MatchString(ObjectID(d.Device)) {
			t.Fatalf("ObjectID %q has invalid characters", ObjectID(d.Device))
		}
		if topicProblem(ConfigTopic(c, d.Device)) != "" {
			t.Fatalf("config topic %q is invalid", ConfigTopic(c, d.Device))
		}
		checkInvariants(t, c, d, got)
		comps := ComponentIDs(d.Device)
		for _, r := range cloud.AllReadings() {
			if slices.Contains(comps, string(r)) != d.Reports(r) {
				t.Fatalf("reading %s: announced %v, reported %v (%v %v)", r, slices.Contains(comps, string(r)), d.Reports(r), d.Capabilities, d.Readings)
			}
		}
		again, _ := Payload(c, d)
		if string(again) != string(got) {
			t.Fatalf("payload not deterministic")
		}
	})
}
