package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Limits and defaults of mqtt.embedded.
const (
	// DefaultMaxPacketSize is the default mqtt.embedded.max_packet_size
	// (8 MiB): bridge/devices of an account with 2,000 devices (3,800
	// plugs and outlets) is about 1.2 MB, and the default must carry the
	// bridge's own messages for accounts far larger than that.
	DefaultMaxPacketSize = 8 << 20
	// MinMaxPacketSize is the smallest accepted max_packet_size (64 KiB):
	// the bridge's own messages (bridge/devices grows with the number of
	// devices) must fit.
	MinMaxPacketSize = 64 << 10
	// MaxMaxPacketSize is the largest accepted max_packet_size (256 MiB,
	// MQTT's own limit).
	MaxMaxPacketSize = 256 << 20
	// EmbeddedStateFile is the file in state_dir that keeps the embedded
	// broker's retained messages and sessions.
	EmbeddedStateFile = "broker.db"
)

// Embedded configures the built-in broker used when MQTT.Server is empty.
// The broker accepts mqtt.username/mqtt.password (when set) on every
// listener. See docs/broker.md.
type Embedded struct {
	// Listen is host:port of the plain MQTT listener. Default
	// "127.0.0.1:1883" (local only).
	Listen string `yaml:"listen"`
	// Persistence keeps retained messages, persistent sessions and their
	// queued messages in <state_dir>/broker.db across restarts. Default
	// true.
	Persistence bool `yaml:"persistence"`
	// MaxPacketSize is the largest packet in bytes a client may send; a
	// client sending a larger one is disconnected. Default 8388608 (8 MiB),
	// at least 65536, at most 268435456.
	MaxPacketSize int `yaml:"max_packet_size"`
	// TLS adds an MQTT-over-TLS listener. Default off.
	TLS EmbeddedTLS `yaml:"tls"`
	// WebSocket adds an MQTT-over-WebSocket listener. Default off.
	WebSocket EmbeddedWebSocket `yaml:"websocket"`
}

// EmbeddedTLS is the embedded broker's TLS listener.
type EmbeddedTLS struct {
	// Listen is host:port, e.g. ":8883". Default "" (no TLS listener).
	Listen string `yaml:"listen"`
	// Cert and Key are PEM files of the server certificate (with its
	// chain) and its private key; required with Listen. Relative paths are
	// relative to the config file's directory.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// EmbeddedWebSocket is the embedded broker's WebSocket listener.
type EmbeddedWebSocket struct {
	// Listen is host:port, e.g. "127.0.0.1:8083"; any path is served
	// (MQTT.js uses "/mqtt"). Default "" (no WebSocket listener).
	Listen string `yaml:"listen"`
	// AllowedOrigins are the web page origins ("http://host:port") allowed
	// to connect from a browser besides the listener's own address; "*"
	// allows any page. Clients that are not browsers send no origin and
	// are always allowed. Default none.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// DefaultEmbedded returns the defaults of mqtt.embedded: listen
// "127.0.0.1:1883", persistence true, max_packet_size 1 MiB, no TLS or
// WebSocket listener.
func DefaultEmbedded() Embedded {
	return Embedded{Listen: DefaultEmbeddedListen, Persistence: true, MaxPacketSize: DefaultMaxPacketSize}
}

// EmbeddedStatePath is the embedded broker's state file,
// <state_dir>/broker.db, or "" when mqtt.embedded.persistence is false.
func (c *Config) EmbeddedStatePath() string {
	if !c.MQTT.Embedded.Persistence {
		return ""
	}
	return filepath.Join(c.StateDir, EmbeddedStateFile)
}

// EmbeddedTLSConfig builds the server TLS configuration of the embedded
// broker's TLS listener, or nil when it is off. Parse has already called
// it once, so errors here mean a file changed since loading.
func (c *Config) EmbeddedTLSConfig() (*tls.Config, error) {
	cfg, _, err := buildEmbeddedTLS(c.MQTT.Embedded.TLS)
	return cfg, err
}

func buildEmbeddedTLS(t EmbeddedTLS) (*tls.Config, string, error) {
	const p = "mqtt.embedded.tls."
	switch {
	case t.Listen == "" && (t.Cert != "" || t.Key != ""):
		return nil, p + "listen", errors.New("required with " + p + "cert and " + p + "key (the address of the TLS listener, e.g. \":8883\")")
	case t.Listen == "":
		return nil, "", nil
	case t.Cert == "":
		return nil, p + "cert", errors.New("required with " + p + "listen (the server certificate, PEM)")
	case t.Key == "":
		return nil, p + "key", errors.New("required with " + p + "listen (the certificate's private key, PEM)")
	}
	pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		// The error of LoadX509KeyPair names the files, never key bytes.
		return nil, p + "cert", fmt.Errorf("cannot load the certificate and key: %s", strings.TrimPrefix(err.Error(), "tls: "))
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, "", nil
}

func (c *Config) validateEmbedded(v *validator) {
	e := c.MQTT.Embedded
	const p = "mqtt.embedded."
	if err := checkListen(e.Listen, "1883"); err != nil {
		v.add(p+"listen", e.Listen, err)
	}
	if e.MaxPacketSize < MinMaxPacketSize || e.MaxPacketSize > MaxMaxPacketSize {
		v.addf(p+"max_packet_size", fmt.Sprint(e.MaxPacketSize), "must be %d (64 KiB) to %d (256 MiB) bytes", MinMaxPacketSize, MaxMaxPacketSize)
	}
	if e.TLS.Listen != "" {
		if err := checkListen(e.TLS.Listen, "8883"); err != nil {
			v.add(p+"tls.listen", e.TLS.Listen, err)
		}
	}
	if _, field, err := buildEmbeddedTLS(e.TLS); err != nil {
		val := map[string]string{p + "tls.listen": e.TLS.Listen, p + "tls.cert": e.TLS.Cert, p + "tls.key": e.TLS.Key}[field]
		v.add(field, val, err)
	}
	ws := e.WebSocket
	if ws.Listen != "" {
		if err := checkListen(ws.Listen, "8083"); err != nil {
			v.add(p+"websocket.listen", ws.Listen, err)
		}
	}
	for i, o := range ws.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			v.add(fmt.Sprintf("%swebsocket.allowed_origins[%d]", p, i), o, err)
		}
	}
	seen := map[string]string{}
	for _, l := range []struct{ field, addr string }{{p + "listen", e.Listen}, {p + "tls.listen", e.TLS.Listen}, {p + "websocket.listen", ws.Listen}} {
		if l.addr == "" || strings.HasSuffix(l.addr, ":0") {
			continue
		}
		if other, ok := seen[l.addr]; ok {
			v.add(l.field, l.addr, fmt.Errorf("same address as %s", other))
		}
		seen[l.addr] = l.field
	}
}

// checkOrigin accepts "*" and scheme://host[:port] with no path.
func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return errors.New(`must be "*" or an origin such as "http://dashboard.local:1880" (scheme, host and port; no path)`)
	}
	return nil
}
