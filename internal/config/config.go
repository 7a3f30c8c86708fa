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

import (
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Defaults and limits. Default returns a Config carrying the defaults; the
// values the bridge and the providers also default to are theirs
// (bridge.DefaultBaseTopic, cloud.DefaultRequestTimeout, kasa.DefaultURL, …).
const (
	// DefaultEmbeddedListen is where the embedded broker listens.
	DefaultEmbeddedListen = "127.0.0.1:1883"
	// MinPollInterval is the smallest accepted poll.interval.
	MinPollInterval = 5 * time.Second
	// MinDeviceListInterval is the smallest accepted poll.device_list_interval.
	MinDeviceListInterval = 10 * time.Second
	// MinRequestTimeout is the smallest accepted poll.request_timeout.
	MinRequestTimeout = time.Second
	// MaxConcurrency is the largest accepted poll.concurrency.
	MaxConcurrency = 64
	// MinMaxReconnectInterval is the smallest accepted
	// mqtt.max_reconnect_interval.
	MinMaxReconnectInterval = time.Second
	// DefaultLogLevel is the default log.level.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the default log.format.
	DefaultLogFormat = "console"
	// EnvPrefix starts every environment variable that sets a config key,
	// e.g. KASA2MQTT_MQTT_SERVER. Variables starting with EnvPrefix+"TEST_"
	// are left to the test suite.
	EnvPrefix = "KASA2MQTT_"
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
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on
	// the same endpoint, for finding what uses memory or CPU. Default
	// false; it shows the process's internals to whoever reaches the
	// endpoint.
	Pprof bool `yaml:"pprof"`
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

// Poll configures the polling schedule.
type Poll struct {
	// Interval between state reads. Default 60s, minimum 5s.
	Interval time.Duration `yaml:"interval"`
	// ReconcileInterval replaces Interval for accounts whose changes are
	// pushed (a Tuya account with the message service) while the push
	// connection is healthy. Default 10m; at least Interval.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// DeviceListInterval between device-list reads. Default 30m, minimum 10s.
	DeviceListInterval time.Duration `yaml:"device_list_interval"`
	// RequestTimeout bounds every single cloud HTTP request (login, list,
	// state read, command): without an answer by then it counts as failed.
	// Default 20s, minimum 1s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Concurrency bounds the state reads in flight per account, and the
	// requests in flight per cloud host and account (commands do not wait
	// for it). Default 8 (bridge.DefaultConcurrency), from 1 to 64.
	Concurrency int `yaml:"concurrency"`
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
	// Levels sets the level of single components (logging.Components:
	// bridge, mqtt, poller, kasa, tuya, broker), e.g. {kasa: debug}.
	// Default none.
	Levels map[string]string `yaml:"levels"`
}

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
	Scale map[string]int `yaml:"scale"`
}

// Default returns a Config with every default filled in and no accounts:
// mqtt.base_topic "kasa2mqtt", mqtt.embedded as DefaultEmbedded,
// mqtt.keepalive 30s, mqtt.max_reconnect_interval 30s, mqtt.output "json",
// homeassistant.enabled true, discovery_prefix "homeassistant",
// status_topic "homeassistant/status", poll.interval 60s,
// poll.reconcile_interval 10m, poll.device_list_interval 30m,
// poll.request_timeout 20s, poll.unavailable_after 2, poll.concurrency 8,
// log.level "info", log.format "console".
// mqtt.client_id stays "" (see Config.ClientID) and state_dir stays ""
// (Load/Parse resolve it to "<dir of config file>/state").
func Default() Config {
	return Config{
		MQTT: MQTT{
			BaseTopic:            bridge.DefaultBaseTopic,
			KeepAlive:            bridge.DefaultKeepAlive,
			MaxReconnectInterval: bridge.DefaultMaxReconnectInterval,
			Output:               bridge.OutputJSON,
			Embedded:             DefaultEmbedded(),
		},
		HomeAssistant: HomeAssistant{
			Enabled:         true,
			DiscoveryPrefix: bridge.DefaultDiscoveryPrefix,
			StatusTopic:     bridge.DefaultStatusTopic,
		},
		Poll: Poll{
			Interval:           bridge.DefaultPollInterval,
			ReconcileInterval:  bridge.DefaultReconcileInterval,
			DeviceListInterval: bridge.DefaultListInterval,
			RequestTimeout:     cloud.DefaultRequestTimeout,
			UnavailableAfter:   bridge.DefaultMissedPolls,
			Concurrency:        bridge.DefaultConcurrency,
		},
		Log: Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}
