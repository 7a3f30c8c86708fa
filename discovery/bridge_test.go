package discovery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestBridgePayload_Golden(t *testing.T) {
	got, err := BridgePayload(testConfig, Bridge{Accounts: []string{"home", "office-tuya"}})
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "bridge", got)
}

func TestPayload_ViaBridge_Golden(t *testing.T) {
	c := testConfig
	c.ViaBridge = true
	compareGolden(t, "plain_plug_via_bridge", mustPayload(t, c, fixtures["plain_plug"]))
	// Outlets still hang off their strip, not the bridge.
	var p struct {
		Device struct {
			ViaDevice string `json:"via_device"`
		} `json:"device"`
	}
	if err := json.Unmarshal(mustPayload(t, c, fixtures["strip_outlet"]), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Device.ViaDevice, "kasa2mqtt_kasa_") {
		t.Fatalf("outlet via_device = %q, want its strip", p.Device.ViaDevice)
	}
}

// TestPayload_ParentNotAnnounced: an outlet whose strip has no discovery
// message links to the bridge device, or to nothing, never to the strip.
func TestPayload_ParentNotAnnounced(t *testing.T) {
	viaOf := func(c Config, d Device) string {
		var p struct {
			Device struct {
				ViaDevice *string `json:"via_device"`
			} `json:"device"`
		}
		if err := json.Unmarshal(mustPayload(t, c, d), &p); err != nil {
			t.Fatal(err)
		}
		if p.Device.ViaDevice == nil {
			return "<none>"
		}
		return *p.Device.ViaDevice
	}
	outlet := fixtures["strip_outlet"]
	outlet.ParentNotAnnounced = true
	if got := viaOf(testConfig, outlet); got != "<none>" {
		t.Errorf("via_device = %q, want none", got)
	}
	c := testConfig
	c.ViaBridge = true
	if got := viaOf(c, outlet); got != BridgeIdentifier(c) {
		t.Errorf("via_device = %q, want the bridge %q", got, BridgeIdentifier(c))
	}
	outlet.ParentNotAnnounced = false
	if got := viaOf(c, outlet); got != Identifier(cloud.Device{ID: stripID, Provider: "kasa"}) {
		t.Errorf("via_device = %q, want the strip", got)
	}
}

func TestBridgePayload_Topics(t *testing.T) {
	c := testConfig
	c.BaseTopic = "home/k2m"
	if got := BridgeConfigTopic(c); got != "homeassistant/device/kasa2mqtt_bridge_home_k2m/config" {
		t.Errorf("BridgeConfigTopic = %q", got)
	}
	got, err := BridgePayload(c, Bridge{Accounts: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"command_topic":"home/k2m/bridge/request/restart"`, `"state_topic":"home/k2m/bridge/info"`,
		`"default_entity_id":"binary_sensor.kasa2mqtt_home_k2m_a_cloud_problem"`, `value_json.accounts['a'].calls_today`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("bridge payload lacks %s:\n%s", want, got)
		}
	}
	if _, err := BridgePayload(c, Bridge{Accounts: []string{"it's"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an account name that breaks the template was accepted: %v", err)
	}
}
