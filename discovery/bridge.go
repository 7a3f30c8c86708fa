package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// BridgeInfoTopic is the retained JSON the bridge publishes about itself:
// "<base>/bridge/info".
func BridgeInfoTopic(base string) string { return base + "/bridge/info" }

// BridgeRequestTopic is where bridge requests go: "<base>/bridge/request/<path>".
func BridgeRequestTopic(base, path string) string { return base + "/bridge/request/" + path }

// BridgeIdentifier is the device registry identifier of the bridge itself,
// "kasa2mqtt_bridge_<base topic>" with '/' replaced, so two bridges on one
// broker are two devices.
func BridgeIdentifier(c Config) string {
	return "kasa2mqtt_bridge_" + sanitize(c.BaseTopic)
}

// BridgeConfigTopic is "<prefix>/device/<BridgeIdentifier>/config".
func BridgeConfigTopic(c Config) string {
	return c.Prefix + "/device/" + BridgeIdentifier(c) + "/config"
}

// Bridge describes the bridge for BridgePayload.
type Bridge struct {
	// Accounts are the configured account names, each getting a "cloud
	// problem" binary sensor, a "calls today" sensor and a "calls this
	// month" sensor (UTC month, counted across restarts: the call budget).
	Accounts []string
}

// BridgePayload returns the discovery payload of the bridge as a Home
// Assistant device: a connectivity binary sensor (from bridge/state), a
// version sensor and, per account, a problem binary sensor, a calls-today
// and a calls-this-month sensor (from bridge/info), and a restart button (a bridge/request/restart
// request). Every entity but connectivity is unavailable while the bridge
// is offline; connectivity then reads "off".
func BridgePayload(c Config, b Bridge) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	id := BridgeIdentifier(c)
	info := BridgeInfoTopic(c.BaseTopic)
	avail := []availability{{Topic: BridgeStateTopic(c.BaseTopic), ValueTemplate: availabilityTpl}}
	entity := "kasa2mqtt"
	if c.BaseTopic != "kasa2mqtt" {
		entity = strings.Trim(entity+"_"+entitySlug(c.BaseTopic), "_")
	}
	comps := map[string]bridgeComponent{
		"connectivity": {
			Platform: "binary_sensor", UniqueID: id + "_connectivity", DefaultEntityID: "binary_sensor." + entity + "_connection_state",
			Name: "Connection state", DeviceClass: "connectivity", EntityCategory: "diagnostic",
			StateTopic: BridgeStateTopic(c.BaseTopic), ValueTemplate: availabilityTpl, PayloadOn: "online", PayloadOff: "offline", QoS: qos,
		},
		"version": {
			Platform: "sensor", UniqueID: id + "_version", DefaultEntityID: "sensor." + entity + "_version",
			Name: "Version", EntityCategory: "diagnostic", Icon: "mdi:tag", StateTopic: info,
			ValueTemplate: valueTemplate(attr("version")), Availability: avail, QoS: qos,
		},
		"restart": {
			Platform: "button", UniqueID: id + "_restart", DefaultEntityID: "button." + entity + "_restart",
			DeviceClass: "restart", EntityCategory: "config", CommandTopic: BridgeRequestTopic(c.BaseTopic, "restart"),
			PayloadPress: "{}", Availability: avail, QoS: qos,
		},
	}
	for _, a := range b.Accounts {
		if a == "" || strings.ContainsAny(a, "'\"{}\\") {
			return nil, fmt.Errorf("%w: account name %q", ErrInvalid, a)
		}
		key := sanitize(a)
		comps["account_"+key+"_problem"] = bridgeComponent{
			Platform: "binary_sensor", UniqueID: id + "_account_" + key + "_problem",
			DefaultEntityID: "binary_sensor." + entity + "_" + entitySlug(a) + "_cloud_problem",
			Name:            a + " cloud problem", DeviceClass: "problem", EntityCategory: "diagnostic", StateTopic: info,
			ValueTemplate: onOffTemplate(attr("accounts"), item(a), attr("problem")),
			PayloadOn:     payloadOn, PayloadOff: payloadOff, Availability: avail, QoS: qos,
		}
		comps["account_"+key+"_calls"] = bridgeComponent{
			Platform: "sensor", UniqueID: id + "_account_" + key + "_calls",
			DefaultEntityID: "sensor." + entity + "_" + entitySlug(a) + "_calls_today",
			Name:            a + " cloud calls today", EntityCategory: "diagnostic", Icon: "mdi:cloud-sync", StateTopic: info,
			ValueTemplate: valueTemplate(attr("accounts"), item(a), attr("calls_today")), UnitOfMeasurement: "calls",
			StateClass: "total_increasing", Availability: avail, QoS: qos,
		}
		comps["account_"+key+"_calls_month"] = bridgeComponent{
			Platform: "sensor", UniqueID: id + "_account_" + key + "_calls_month",
			DefaultEntityID: "sensor." + entity + "_" + entitySlug(a) + "_calls_this_month",
			Name:            a + " cloud calls this month", EntityCategory: "diagnostic", Icon: "mdi:cloud-percent", StateTopic: info,
			ValueTemplate: valueTemplate(attr("accounts"), item(a), attr("calls"), attr("month")), UnitOfMeasurement: "calls",
			StateClass: "total_increasing", Availability: avail, QoS: qos,
		}
	}
	p := bridgePayload{
		Device: deviceInfo{Identifiers: []string{id}, Name: bridgeName(c), Manufacturer: "kasa2mqtt", Model: "Bridge",
			SWVersion: c.Origin.SWVersion},
		Origin:     originInfo(c.Origin),
		Components: comps,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("discovery: encode bridge payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func bridgeName(c Config) string {
	if c.BaseTopic == "kasa2mqtt" {
		return "kasa2mqtt bridge"
	}
	return "kasa2mqtt bridge (" + c.BaseTopic + ")"
}

type bridgePayload struct {
	Device     deviceInfo                 `json:"device"`
	Origin     originInfo                 `json:"origin"`
	Components map[string]bridgeComponent `json:"components"`
}

// bridgeComponent: each entity carries its own state topic and
// availability, since the bridge's entities read different topics.
type bridgeComponent struct {
	Platform          string         `json:"platform"`
	Name              string         `json:"name,omitempty"`
	UniqueID          string         `json:"unique_id"`
	DefaultEntityID   string         `json:"default_entity_id"`
	DeviceClass       string         `json:"device_class,omitempty"`
	EntityCategory    string         `json:"entity_category,omitempty"`
	Icon              string         `json:"icon,omitempty"`
	StateTopic        string         `json:"state_topic,omitempty"`
	CommandTopic      string         `json:"command_topic,omitempty"`
	ValueTemplate     string         `json:"value_template,omitempty"`
	PayloadOn         string         `json:"payload_on,omitempty"`
	PayloadOff        string         `json:"payload_off,omitempty"`
	PayloadPress      string         `json:"payload_press,omitempty"`
	UnitOfMeasurement string         `json:"unit_of_measurement,omitempty"`
	StateClass        string         `json:"state_class,omitempty"`
	Availability      []availability `json:"availability,omitempty"`
	QoS               int            `json:"qos"`
}
