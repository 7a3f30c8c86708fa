package bridge

import (
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestSlugify(t *testing.T) {
	tests := map[string]string{
		"Living Room Lamp":    "living_room_lamp",
		"  Kitchen -- Kettle": "kitchen_kettle",
		"Küche Süd":           "kuche_sud",
		"Plug #2 (TV)":        "plug_2_tv",
		"客厅":                  "",
		"":                    "",
		"ALL CAPS":            "all_caps",
		"a/b+c#d":             "a_b_c_d",
	}
	for in, want := range tests {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanTopics(t *testing.T) {
	devs := []cloud.Device{
		{ID: "B", Provider: "kasa", Name: "Lamp"},
		{ID: "A", Provider: "kasa", Name: "Lamp"},
		{ID: "C", Provider: "kasa", Name: "Bridge"},
		{ID: "D0123456789", Provider: "kasa", Name: "客厅"},
		{ID: "E", Provider: "kasa", Name: "Desk"},
		{ID: "F", Provider: "kasa", Name: "Hidden"},
		{ID: "Z", Provider: "kasa", Name: "Anything"},
		{ID: "Y", Provider: "kasa", Name: "Whatever"},
		{ID: "0", Provider: "kasa", Name: "Desk"}, // sorts first, but "desk" is claimed by Z's override
	}
	got := PlanTopics(devs, map[string]DeviceOverride{
		"E": {Topic: "office/desk"},
		"F": {Disabled: true},
		"Z": {Topic: "desk"}, // configured topics are claimed before plain names
		"Y": {Topic: "lamp_3"},
	}, "")
	want := map[string]string{
		"A":           "lamp",   // sorted by id: A gets the plain name
		"B":           "lamp_2", // duplicates get a suffix
		"C":           "kasa_c_bridge",
		"D0123456789": "kasa_23456789",
		"E":           "office/desk",
		"Z":           "desk",
		"Y":           "lamp_3",
		"0":           "desk_2",
	}
	if len(got) != len(want) {
		t.Fatalf("PlanTopics = %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("topic of %s = %q, want %q", id, got[id], w)
		}
	}
}
