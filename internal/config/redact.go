package config

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted returns a deep copy of c in which every non-empty secret
// (mqtt.password and the account keys the providers mark secret, such as
// password and access_secret) is replaced by "***" and any password
// embedded in mqtt.server or an account's URL (url, endpoint) is masked.
// Use it for check-config output and logs.
func (c *Config) Redacted() Config {
	r := *c
	r.MQTT.Password = mask(c.MQTT.Password)
	r.MQTT.Server = redactURL(c.MQTT.Server)
	r.Accounts = slices.Clone(c.Accounts)
	for i := range r.Accounts {
		r.Accounts[i].Settings = redactSettings(r.Accounts[i].Settings)
	}
	r.Devices = maps.Clone(c.Devices)
	for id, d := range r.Devices {
		d.Scale = maps.Clone(d.Scale)
		r.Devices[id] = d
	}
	return r
}

// YAML returns the redacted effective configuration (defaults and
// resolved values included) as YAML, for `kasa2mqtt check-config`.
// Durations are written in Go syntax ("1m0s").
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// ClientID returns the MQTT client id: mqtt.client_id when set, otherwise
// "kasa2mqtt-<hostname>" (stable across restarts, unlike a random id), or
// "kasa2mqtt" when the hostname is unknown.
func (c Config) ClientID() string {
	if c.MQTT.ClientID != "" {
		return c.MQTT.ClientID
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "kasa2mqtt"
	}
	return "kasa2mqtt-" + sanitizeClientID(h)
}

// sanitizeClientID keeps letters, digits, '.', '_' and '-'.
func sanitizeClientID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
}

// mask replaces a non-empty secret by "***".
func mask(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

// redactURL masks the password of a URL with user info
// ("mqtt://user:xxxxx@host"); other strings are returned unchanged. A
// string that does not parse but contains '@' is masked entirely, since
// the part before it may be a password.
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	if u.User == nil {
		return s
	}
	return u.Redacted()
}
