// Package config loads, expands and validates the kasa2mqtt YAML
// configuration.
//
// Loading is: defaults (Default) -> ${VAR} expansion on every scalar ->
// strict decode (an unknown key is an error naming its line) -> Validate.
// Errors name the offending field path (e.g. "accounts[1].password"), its
// value (secrets masked) and, where known, the line in the file.
//
// Environment expansion: "${NAME}" in any scalar value is replaced by the
// environment variable NAME (an unset variable is an error; a set but empty
// one expands to ""). "$$" is a literal "$"; any other "$" is kept as is.
// Expansion happens after YAML parsing, so the variable's value is used
// verbatim: quotes, backslashes and "$" in it need no escaping. Mapping keys
// (such as device ids) are not expanded.
//
// A key with no value ("base_topic:") keeps its default; write "" for an
// explicitly empty string.
package config

import "time"

// Defaults and limits. Default returns a Config carrying the defaults.
const (
	// DefaultBaseTopic prefixes every kasa2mqtt topic.
	DefaultBaseTopic = "kasa2mqtt"
	// DefaultEmbeddedListen is where the embedded broker listens.
	DefaultEmbeddedListen = "127.0.0.1:1883"
	// DefaultDiscoveryPrefix is Home Assistant's MQTT discovery prefix.
	DefaultDiscoveryPrefix = "homeassistant"
	// DefaultStatusTopic is where Home Assistant publishes its birth/will.
	DefaultStatusTopic = "homeassistant/status"
	// DefaultPollInterval is the time between device state reads.
	DefaultPollInterval = 60 * time.Second
	// DefaultDeviceListInterval is the time between device list reads.
	DefaultDeviceListInterval = 30 * time.Minute
	// MinPollInterval is the smallest accepted poll.interval.
	MinPollInterval = 5 * time.Second
	// MinDeviceListInterval is the smallest accepted poll.device_list_interval.
	MinDeviceListInterval = 10 * time.Second
	// DefaultRequestTimeout is the default poll.request_timeout.
	DefaultRequestTimeout = 20 * time.Second
	// MinRequestTimeout is the smallest accepted poll.request_timeout.
	MinRequestTimeout = time.Second
	// DefaultUnavailableAfter is the default poll.unavailable_after.
	DefaultUnavailableAfter = 2
	// DefaultLogLevel is the default log.level.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the default log.format.
	DefaultLogFormat = "console"
	// DefaultKeepAlive is the default mqtt.keepalive.
	DefaultKeepAlive = 30 * time.Second
	// MinKeepAlive is the smallest accepted mqtt.keepalive.
	MinKeepAlive = 5 * time.Second
	// DefaultMaxReconnectInterval is the default mqtt.max_reconnect_interval.
	DefaultMaxReconnectInterval = 30 * time.Second
	// OutputJSON, OutputAttribute and OutputAttributeAndJSON are the
	// mqtt.output modes.
	OutputJSON             = "json"
	OutputAttribute        = "attribute"
	OutputAttributeAndJSON = "attribute_and_json"
	// EnvPrefix starts every environment variable that sets a config key,
	// e.g. KASA2MQTT_MQTT_SERVER. Variables starting with EnvPrefix+"TEST_"
	// are left to the test suite.
	EnvPrefix = "KASA2MQTT_"
	// DefaultKasaURL is the default accounts[].url for provider "kasa".
	DefaultKasaURL = "https://wap.tplinkcloud.com"
	// ProviderKasa is the provider kind of TP-Link Kasa cloud accounts.
	ProviderKasa = "kasa"
	// ProviderTuya is the provider kind of Tuya IoT cloud projects.
	ProviderTuya = "tuya"
	// TuyaAuthSimple and TuyaAuthCode are the accounts[].auth modes.
	TuyaAuthSimple = "simple"
	TuyaAuthCode   = "code"
)

// Config is the whole configuration file. The zero value is not valid; start
// from Default() or Load().
type Config struct {
	MQTT          MQTT          `yaml:"mqtt"`
	HomeAssistant HomeAssistant `yaml:"homeassistant"`
	// Accounts lists the cloud accounts to bridge; at least one is required.
	Accounts []Account `yaml:"accounts"`
	Poll     Poll      `yaml:"poll"`
	HTTP     HTTP      `yaml:"http"`
	// StateDir holds tokens and other runtime state. Default: "state" next
	// to the config file. A relative path is relative to the config file's
	// directory (resolved by Load/Parse).
	StateDir string `yaml:"state_dir"`
	Log      Log    `yaml:"log"`
	// Devices overrides individual devices, keyed by the cloud device id
	// shown by `kasa2mqtt devices`. Default: none.
	Devices map[string]DeviceOption `yaml:"devices"`

	// lines maps a field path ("mqtt.server", "accounts[0].name") to the
	// line it was set on, so Validate can point at the file. Filled by
	// Parse; nil for configs built in code.
	lines map[string]int
	// envs maps a field path to the environment variable that set it.
	envs map[string]string
}

// HTTP configures the operations endpoint (/healthz, /readyz, /metrics).
type HTTP struct {
	// Listen is host:port. Default "" (off). Use "127.0.0.1:9792" to keep
	// it local; the endpoint has no authentication.
	Listen string `yaml:"listen"`
}

// TLS configures the broker connection for mqtts:// servers.
type TLS struct {
	// CA is a PEM file of the certificate authorities to trust. Default ""
	// (the system roots).
	CA string `yaml:"ca"`
	// Cert and Key are PEM files of a client certificate and its key, for
	// brokers that authenticate clients by certificate. Both or neither.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName overrides the name checked in the broker's certificate.
	// Default "" (the host of mqtt.server).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. Default false;
	// only for testing.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// MQTT configures the broker connection.
type MQTT struct {
	// Server is mqtt://host[:port] or mqtts://host[:port]. Empty (the
	// default) starts the embedded broker on Embedded.Listen and connects
	// to it.
	Server string `yaml:"server"`
	// BaseTopic prefixes every topic. Default "kasa2mqtt"; no wildcards, no
	// leading or trailing '/'.
	BaseTopic string `yaml:"base_topic"`
	// ClientID is the MQTT client id. Default "" meaning
	// "kasa2mqtt-<hostname>" (see Config.ClientID).
	ClientID string `yaml:"client_id"`
	// Username for the broker. Default "" (anonymous).
	Username string `yaml:"username"`
	// Password for the broker. Default "". Secret: masked in errors,
	// Redacted and YAML.
	Password string `yaml:"password"`
	// PasswordFile is read at load time instead of Password (relative to
	// the config file's directory, one trailing newline trimmed).
	PasswordFile string `yaml:"password_file"`
	// KeepAlive is the MQTT keepalive. Default 30s, minimum 5s.
	KeepAlive time.Duration `yaml:"keepalive"`
	// MaxReconnectInterval caps the wait between reconnect attempts.
	// Default 30s, minimum 1s.
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	// Output is how device state is published: "json" (default: one JSON
	// object on <base>/<dev>), "attribute" (each value on its own
	// <base>/<dev>/<key> topic; needs homeassistant.enabled false) or
	// "attribute_and_json" (both).
	Output string `yaml:"output"`
	// TLS applies to mqtts:// servers.
	TLS      TLS      `yaml:"tls"`
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the built-in broker used when MQTT.Server is empty.
type Embedded struct {
	// Listen is host:port. Default "127.0.0.1:1883" (local only).
	Listen string `yaml:"listen"`
}

// HomeAssistant configures MQTT discovery.
type HomeAssistant struct {
	// Enabled publishes discovery. Default true.
	Enabled bool `yaml:"enabled"`
	// DiscoveryPrefix default "homeassistant"; must differ from
	// MQTT.BaseTopic.
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// StatusTopic carries HA's birth/will. Default "homeassistant/status".
	StatusTopic string `yaml:"status_topic"`
}

// Account is one cloud account.
type Account struct {
	// Provider is "kasa" (more providers later). Required.
	Provider string `yaml:"provider"`
	// Name identifies the account in logs, state files and topics; unique,
	// ^[a-z0-9][a-z0-9_-]{0,31}$. Default: the provider kind when only one
	// account of that kind is configured; required otherwise.
	Name string `yaml:"name"`
	// Username is the cloud login (e-mail). Required for "kasa".
	Username string `yaml:"username"`
	// Password, or PasswordFile (read at load time, relative to the config
	// file's directory, one trailing newline trimmed; after loading,
	// Password holds the file's content). Setting both is an error. Both
	// may be empty when `kasa2mqtt login` stored tokens. Password is
	// secret: masked in errors, Redacted and YAML.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// URL is the cloud entry point. Default "https://wap.tplinkcloud.com"
	// for "kasa"; must be an absolute http or https URL.
	URL string `yaml:"url"`

	// The fields below are for provider "tuya" (a Tuya IoT cloud project).

	// AccessID is the cloud project's Access ID (client_id). Required.
	AccessID string `yaml:"access_id,omitempty"`
	// AccessSecret signs every request, or AccessSecretFile (read at load
	// time, trailing newline trimmed). One of them is required.
	AccessSecret     string `yaml:"access_secret,omitempty"`
	AccessSecretFile string `yaml:"access_secret_file,omitempty"`
	// Region is the project's data centre: cn, us, us-e, eu, eu-w or in.
	// Exactly one of Region and Endpoint is required.
	Region string `yaml:"region,omitempty"`
	// Endpoint is the OpenAPI base URL, for data centres not in the list
	// (and for tests).
	Endpoint string `yaml:"endpoint,omitempty"`
	// UserID is the app account's user id, optional.
	UserID string `yaml:"user_id,omitempty"`
	// Auth is "simple" (default: tokens from the access id and secret) or
	// "code" (authorise once with `kasa2mqtt tuya-authorize`).
	Auth string `yaml:"auth,omitempty"`
}

// Poll configures the polling schedule.
type Poll struct {
	// Interval between state reads. Default 60s, minimum 5s.
	Interval time.Duration `yaml:"interval"`
	// DeviceListInterval between device-list reads. Default 30m, minimum 10s.
	DeviceListInterval time.Duration `yaml:"device_list_interval"`
	// RequestTimeout bounds every single cloud HTTP request (login, list,
	// state read, command): without an answer by then it counts as failed.
	// Default 20s, minimum 1s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// UnavailableAfter is how many consecutive failed state reads make a
	// device unavailable (a device the cloud reports offline is unavailable
	// at once). Default 2, minimum 1.
	UnavailableAfter int `yaml:"unavailable_after"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is console or json. Default console.
	Format string `yaml:"format"`
	// Levels sets the level of single components (bridge, mqtt, poller,
	// kasa, tuya, broker), e.g. {kasa: debug}. Default none.
	Levels map[string]string `yaml:"levels,omitempty"`
}

// LogComponents are the logger names log.levels accepts.
var LogComponents = []string{"bridge", "mqtt", "poller", "kasa", "tuya", "broker"}

// DeviceOption overrides one device, keyed by its cloud id.
type DeviceOption struct {
	// Name replaces the vendor app's name in MQTT and Home Assistant.
	// Default "" (keep the app's name).
	Name string `yaml:"name"`
	// Topic replaces the slugified name as the device's topic segment.
	// Default "" (slugified name). Lowercase letters, digits, '_', '-' and
	// '/' separators; must not start with "bridge"; unique across devices.
	Topic string `yaml:"topic"`
	// Disabled stops bridging the device (and clears its discovery).
	// Default false.
	Disabled bool `yaml:"disabled"`
	// Scale overrides the decimal scale of a Tuya data point for products
	// whose published specification is wrong, e.g. {cur_power: 1} means
	// the raw value is tenths of a watt. Keyed by data point code.
	Scale map[string]int `yaml:"scale,omitempty"`
}

// Default returns a Config with every default filled in and no accounts:
// mqtt.base_topic "kasa2mqtt", mqtt.embedded.listen "127.0.0.1:1883",
// mqtt.keepalive 30s, mqtt.max_reconnect_interval 30s, mqtt.output "json",
// homeassistant.enabled true, discovery_prefix "homeassistant",
// status_topic "homeassistant/status", poll.interval 60s,
// poll.device_list_interval 30m, poll.request_timeout 20s,
// poll.unavailable_after 2, log.level "info", log.format "console".
// mqtt.client_id stays "" (see Config.ClientID) and state_dir stays ""
// (Load/Parse resolve it to "<dir of config file>/state").
func Default() Config {
	return Config{
		MQTT: MQTT{
			BaseTopic:            DefaultBaseTopic,
			KeepAlive:            DefaultKeepAlive,
			MaxReconnectInterval: DefaultMaxReconnectInterval,
			Output:               OutputJSON,
			Embedded:             Embedded{Listen: DefaultEmbeddedListen},
		},
		HomeAssistant: HomeAssistant{
			Enabled:         true,
			DiscoveryPrefix: DefaultDiscoveryPrefix,
			StatusTopic:     DefaultStatusTopic,
		},
		Poll: Poll{
			Interval:           DefaultPollInterval,
			DeviceListInterval: DefaultDeviceListInterval,
			RequestTimeout:     DefaultRequestTimeout,
			UnavailableAfter:   DefaultUnavailableAfter,
		},
		Log: Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}
