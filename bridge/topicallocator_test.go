package bridge

import (
	"maps"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestTopicAllocator(t *testing.T) {
	kasa := func(id, name string) cloud.Device {
		return cloud.Device{ID: id, Provider: "kasa", Name: name, Model: "HS100"}
	}
	outlet := func(id, name string) cloud.Device {
		d := kasa(id, name)
		d.ParentID = "S"
		return d
	}
	for _, tc := range []struct {
		name      string
		devs      []cloud.Device
		overrides map[string]DeviceOverride
		previous  map[string]string // key → topic of the last run
		want      map[string]string // id → topic
	}{
		{name: "slugified names", devs: []cloud.Device{kasa("A", "Living Room Lamp"), kasa("B", "Küche Süd")},
			want: map[string]string{"A": "living_room_lamp", "B": "kuche_sud"}},
		{name: "clash: suffixes by id", devs: []cloud.Device{kasa("C", "Lamp"), kasa("A", "Lamp"), kasa("B", "Lamp")},
			want: map[string]string{"A": "lamp", "B": "lamp_2", "C": "lamp_3"}},
		{name: "strips before outlets", devs: []cloud.Device{outlet("A", "Plug"), kasa("Z", "Plug")},
			want: map[string]string{"Z": "plug", "A": "plug_2"}},
		{name: "no usable name", devs: []cloud.Device{kasa("D0123456789", "客厅"), kasa("C", "Bridge"), {ID: "x", Provider: "tuya"}},
			want: map[string]string{"D0123456789": "kasa_23456789", "C": "kasa_c_bridge", "x": "tuya_x"}},
		{name: "empty name falls back to the model", devs: []cloud.Device{kasa("A", "  ")},
			want: map[string]string{"A": "hs100"}},
		{name: "override name and topic", devs: []cloud.Device{kasa("A", "Lamp"), kasa("B", "Lamp")},
			overrides: map[string]DeviceOverride{"A": {Name: "Reading Light"}, "B": {Topic: "floor1/lamp"}},
			want:      map[string]string{"A": "reading_light", "B": "floor1/lamp"}},
		{name: "configured topic claimed before plain names", devs: []cloud.Device{kasa("A", "Desk"), kasa("Z", "Other")},
			overrides: map[string]DeviceOverride{"Z": {Topic: "desk"}},
			want:      map[string]string{"Z": "desk", "A": "desk_2"}},
		{name: "previous topic kept", devs: []cloud.Device{kasa("A", "Lamp"), kasa("B", "Lamp")},
			previous: map[string]string{"kasa/B": "lamp"},
			want:     map[string]string{"B": "lamp", "A": "lamp_2"}},
		{name: "previous suffix kept", devs: []cloud.Device{kasa("A", "Lamp"), kasa("B", "Lamp")},
			previous: map[string]string{"kasa/A": "lamp_2", "kasa/B": "lamp"},
			want:     map[string]string{"B": "lamp", "A": "lamp_2"}},
		{name: "previous topic that no longer fits", devs: []cloud.Device{kasa("A", "Lamp")},
			previous: map[string]string{"kasa/A": "old_name"},
			want:     map[string]string{"A": "lamp"}},
		{name: "previous topic taken by a configured one", devs: []cloud.Device{kasa("A", "Lamp"), kasa("B", "Other")},
			overrides: map[string]DeviceOverride{"B": {Topic: "lamp"}}, previous: map[string]string{"kasa/A": "lamp"},
			want: map[string]string{"B": "lamp", "A": "lamp_2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTopicAllocator(func(id string) DeviceOverride { return tc.overrides[id] },
				func(key string) string { return tc.previous[key] })
			devs := append([]cloud.Device(nil), tc.devs...)
			a.sort(devs)
			got := map[string]string{}
			for _, d := range devs {
				d.Name = a.name(d)
				key := deviceKey(d.Provider, d.ID)
				topic := a.assign(key, d)
				a.claim(topic, key)
				got[d.ID] = topic
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("topics %v, want %v", got, tc.want)
			}
		})
	}
}

// A device keeps its topic while it fits, a released topic is free again,
// and releasing another device's topic does nothing.
func TestTopicAllocator_ClaimAndRelease(t *testing.T) {
	a := newTopicAllocator(nil, nil)
	lamp := cloud.Device{ID: "A", Provider: "kasa", Name: "Lamp"}
	a.claim("lamp", "kasa/B")
	if got := a.assign("kasa/A", lamp); got != "lamp_2" {
		t.Fatalf("assign = %s, want lamp_2", got)
	}
	a.claim("lamp_2", "kasa/A")
	if got := a.assign("kasa/A", lamp); got != "lamp_2" {
		t.Errorf("a device's own topic is not free to it: %s", got)
	}
	a.release("lamp", "kasa/A") // not A's
	if owner, _ := a.owner("lamp"); owner != "kasa/B" {
		t.Errorf("lamp owned by %q after another device released it", owner)
	}
	a.release("lamp", "kasa/B")
	if _, taken := a.owner("lamp"); taken || a.assign("kasa/C", cloud.Device{ID: "C", Provider: "kasa", Name: "Lamp"}) != "lamp" {
		t.Error("a released topic is not free")
	}
}

func TestTopicFits(t *testing.T) {
	for _, tc := range []struct {
		cur, want string
		fits      bool
	}{
		{"lamp", "lamp", true}, {"lamp_2", "lamp", true}, {"lamp_12", "lamp", true},
		{"lamp_", "lamp", false}, {"lamp_x", "lamp", false}, {"lamps", "lamp", false}, {"lamp", "lamp_2", false},
	} {
		if got := topicFits(tc.cur, tc.want); got != tc.fits {
			t.Errorf("topicFits(%q, %q) = %v", tc.cur, tc.want, got)
		}
	}
}
