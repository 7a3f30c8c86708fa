package bridge

import "time"

// Defaults of Options and MQTTOptions: a zero value takes these. The
// configuration (internal/config) documents and fills in the same values.
const (
	// DefaultBaseTopic prefixes every kasa2mqtt topic.
	DefaultBaseTopic = "kasa2mqtt"
	// DefaultDiscoveryPrefix is Home Assistant's MQTT discovery prefix.
	DefaultDiscoveryPrefix = "homeassistant"
	// DefaultStatusTopic is where Home Assistant publishes its birth/will.
	DefaultStatusTopic = "homeassistant/status"
	// DefaultPollInterval is the time between device state reads.
	DefaultPollInterval = 60 * time.Second
	// DefaultReconcileInterval is the time between state reads of an
	// account whose provider pushes changes while its push connection is
	// healthy.
	DefaultReconcileInterval = 10 * time.Minute
	// DefaultListInterval is the time between device list reads.
	DefaultListInterval = 30 * time.Minute
	// DefaultMissedPolls is how many consecutive failed reads make a device
	// unavailable.
	DefaultMissedPolls = 2
	// DefaultKeepAlive is the MQTT keepalive.
	DefaultKeepAlive = 30 * time.Second
	// MinKeepAlive is the smallest keepalive used (paho truncates to whole
	// seconds and mochi drops clients below that).
	MinKeepAlive = 5 * time.Second
	// DefaultMaxReconnectInterval caps the wait between reconnect attempts.
	DefaultMaxReconnectInterval = 30 * time.Second
)
