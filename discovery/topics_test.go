package discovery

import (
	"regexp"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var objectIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func TestObjectID(t *testing.T) {
	tests := []struct {
		name, provider, id, want string
	}{
		{"kasa hex id", "kasa", "8006ABCDEF0123456789", "kasa_8006ABCDEF0123456789"},
		{"keeps dash and underscore", "kasa", "a-b_c", "kasa_a-b_c"},
		{"outlet id", "kasa", "8006ABCD00", "kasa_8006ABCD00"},
		{"tuya id", "tuya", "bf1234567890abcdefxyz", "tuya_bf1234567890abcdefxyz"},
		{"colons", "kasa", "50:C7:BF", "kasa_50_C7_BF"},
		{"slash and space", "kasa", "a/b c", "kasa_a_b_c"},
		{"wildcards", "kasa", "a+b#c", "kasa_a_b_c"},
		{"dot", "kasa", "a.b", "kasa_a_b"},
		{"one underscore per rune", "kasa", "ä客", "kasa___"},
		{"invalid UTF-8 byte", "kasa", "a\xffb", "kasa_a_b"},
		{"NUL", "kasa", "a\x00b", "kasa_a_b"},
		{"provider sanitised too", "ka sa", "1", "ka_sa_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ObjectID(cloud.Device{Provider: tt.provider, ID: tt.id})
			if got != tt.want {
				t.Errorf("ObjectID(%q, %q) = %q, want %q", tt.provider, tt.id, got, tt.want)
			}
			if !objectIDPattern.MatchString(got) {
				t.Errorf("ObjectID %q has characters outside [a-zA-Z0-9_-]", got)
			}
		})
	}
}

func TestObjectID_IgnoresNameAndTopic(t *testing.T) {
	a := cloud.Device{Provider: "kasa", ID: "X1", Name: "Lamp"}
	b := cloud.Device{Provider: "kasa", ID: "X1", Name: "Renamed", Model: "other"}
	if ObjectID(a) != ObjectID(b) {
		t.Errorf("ObjectID depends on more than provider and id: %q vs %q", ObjectID(a), ObjectID(b))
	}
}

func TestIdentifier(t *testing.T) {
	d := cloud.Device{Provider: "kasa", ID: "8006:AB"}
	if got, want := Identifier(d), "kasa2mqtt_kasa_8006_AB"; got != want {
		t.Errorf("Identifier = %q, want %q", got, want)
	}
}

func TestConfigTopic(t *testing.T) {
	tests := []struct {
		prefix string
		d      cloud.Device
		want   string
	}{
		{"homeassistant", cloud.Device{Provider: "kasa", ID: "8006ABCD"}, "homeassistant/device/kasa_8006ABCD/config"},
		{"ha", cloud.Device{Provider: "kasa", ID: "8006ABCD00"}, "ha/device/kasa_8006ABCD00/config"},
		{"homeassistant", cloud.Device{Provider: "kasa", ID: "a/b+c"}, "homeassistant/device/kasa_a_b_c/config"},
		{"home/assistant", cloud.Device{Provider: "tuya", ID: "bf12"}, "home/assistant/device/tuya_bf12/config"},
	}
	for _, tt := range tests {
		c := Config{Prefix: tt.prefix, BaseTopic: "kasa2mqtt"}
		if got := ConfigTopic(c, tt.d); got != tt.want {
			t.Errorf("ConfigTopic(%q, %q) = %q, want %q", tt.prefix, tt.d.ID, got, tt.want)
		}
	}
}

func TestTopics(t *testing.T) {
	tests := []struct{ got, want string }{
		{StateTopic("kasa2mqtt", "living_room_lamp"), "kasa2mqtt/living_room_lamp"},
		{AvailabilityTopic("kasa2mqtt", "living_room_lamp"), "kasa2mqtt/living_room_lamp/availability"},
		{BridgeStateTopic("kasa2mqtt"), "kasa2mqtt/bridge/state"},
		{CommandTopic("kasa2mqtt", "living_room_lamp", PropState), "kasa2mqtt/living_room_lamp/set/state"},
		{CommandTopic("kasa2mqtt", "living_room_lamp", PropLED), "kasa2mqtt/living_room_lamp/set/led"},
		{CommandTopic("kasa2mqtt", "living_room_lamp", PropRestart), "kasa2mqtt/living_room_lamp/set/restart"},
		{StateTopic("home/kasa", "a/b"), "home/kasa/a/b"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestEntitySlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"living_room_lamp", "living_room_lamp"},
		{"Living Room Lamp", "living_room_lamp"},
		{"a//b--c", "a_b_c"},
		{"_lead_and_trail_", "lead_and_trail"},
		{"HS110", "hs110"},
		{"kasa_8006-AB", "kasa_8006_ab"},
		{"客厅", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := entitySlug(tt.in); got != tt.want {
			t.Errorf("entitySlug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
