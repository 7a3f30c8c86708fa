// Package config loads, expands and validates the kasa2mqtt YAML
// configuration.
//
// Loading is: defaults (Default) -> ${VAR} expansion on every scalar ->
// strict decode (an unknown key is an error naming its line) -> Validate.
// Errors name the offending field path (e.g. "accounts[1].password"), its
// value (secrets masked) and, where known, the line in the file.
package config

import "time"

// Config is the whole configuration file. The zero value is not valid; start
// from Default() or Load().
type Config struct {
	MQTT          MQTT                    `yaml:"mqtt"`
	HomeAssistant HomeAssistant           `yaml:"homeassistant"`
	Accounts      []Account               `yaml:"accounts"`
	Poll          Poll                    `yaml:"poll"`
	StateDir      string                  `yaml:"state_dir"`
	Log           Log                     `yaml:"log"`
	Devices       map[string]DeviceOption `yaml:"devices"`
}

// MQTT configures the broker connection.
type MQTT struct {
	// Server is mqtt://host[:port] or mqtts://host[:port]. Empty starts the
	// embedded broker on Embedded.Listen and connects to it.
	Server string `yaml:"server"`
	// BaseTopic prefixes every topic. Default "kasa2mqtt".
	BaseTopic string `yaml:"base_topic"`
	// ClientID is the MQTT client id. Default "kasa2mqtt-<hostname>".
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the built-in broker used when MQTT.Server is empty.
type Embedded struct {
	// Listen is host:port. Default "127.0.0.1:1883".
	Listen string `yaml:"listen"`
}

// HomeAssistant configures MQTT discovery.
type HomeAssistant struct {
	// Enabled publishes discovery. Default true.
	Enabled bool `yaml:"enabled"`
	// DiscoveryPrefix default "homeassistant".
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// StatusTopic carries HA's birth/will. Default "homeassistant/status".
	StatusTopic string `yaml:"status_topic"`
}

// Account is one cloud account.
type Account struct {
	// Provider is "kasa" (more providers later).
	Provider string `yaml:"provider"`
	// Name identifies the account in logs, state files and topics; unique,
	// [a-z0-9_-]. Default: the provider kind for the first account of a kind.
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
	// Password, or PasswordFile (read at load time, trailing newline
	// trimmed). Both may be empty when `kasa2mqtt login` stored tokens.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// URL is the cloud entry point. Default "https://wap.tplinkcloud.com".
	URL string `yaml:"url"`
}

// Poll configures the polling schedule.
type Poll struct {
	// Interval between state reads. Default 60s, minimum 5s.
	Interval time.Duration `yaml:"interval"`
	// DeviceListInterval between device-list reads. Default 30m, minimum 10s.
	DeviceListInterval time.Duration `yaml:"device_list_interval"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is console or json. Default console.
	Format string `yaml:"format"`
}

// DeviceOption overrides one device, keyed by its cloud id.
type DeviceOption struct {
	// Name replaces the vendor app's name in MQTT and Home Assistant.
	Name string `yaml:"name"`
	// Topic replaces the slugified name as the device's topic segment.
	Topic string `yaml:"topic"`
	// Disabled stops bridging the device (and clears its discovery).
	Disabled bool `yaml:"disabled"`
}
