package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmbedded_Defaults(t *testing.T) {
	c := mustParse(t, kasaAccount, "/etc/kasa2mqtt/config.yaml")
	e := c.MQTT.Embedded
	if e.Listen != "127.0.0.1:1883" || !e.Persistence || e.MaxPacketSize != 8<<20 ||
		e.TLS != (EmbeddedTLS{}) || e.WebSocket.Listen != "" || e.WebSocket.AllowedOrigins != nil {
		t.Errorf("defaults: %+v", e)
	}
	if got := c.EmbeddedStatePath(); got != "/etc/kasa2mqtt/state/broker.db" {
		t.Errorf("state file %q", got)
	}
	if tc, err := c.EmbeddedTLSConfig(); tc != nil || err != nil {
		t.Errorf("TLS listener on by default: %v %v", tc, err)
	}
}

func TestEmbedded_FileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	_, cert, key := writeTestCert(t, dir)
	file := kasaAccount + `mqtt:
  embedded:
    persistence: false
    max_packet_size: 65536
    tls:
      listen: ":8883"
      cert: client.pem
      key: client.key
    websocket:
      listen: 127.0.0.1:8083
      allowed_origins: ["http://dashboard.local:1880", "*"]
`
	c, err := parseEnv(file, dir)
	if err != nil {
		t.Fatal(err)
	}
	e := c.MQTT.Embedded
	if e.Persistence || c.EmbeddedStatePath() != "" || e.MaxPacketSize != 65536 || e.TLS.Cert != cert || e.TLS.Key != key ||
		e.WebSocket.Listen != "127.0.0.1:8083" || !slices.Equal(e.WebSocket.AllowedOrigins, []string{"http://dashboard.local:1880", "*"}) {
		t.Errorf("from the file: %+v", e)
	}
	if tc, err := c.EmbeddedTLSConfig(); err != nil || tc == nil || len(tc.Certificates) != 1 {
		t.Errorf("TLS config: %v, %v", tc, err)
	}

	// Every key of the section can be set from the environment.
	c, err = parseEnv(kasaAccount, dir,
		"KASA2MQTT_MQTT_EMBEDDED_LISTEN=:1884",
		"KASA2MQTT_MQTT_EMBEDDED_PERSISTENCE=false",
		"KASA2MQTT_MQTT_EMBEDDED_MAX_PACKET_SIZE=2097152",
		"KASA2MQTT_MQTT_EMBEDDED_TLS_LISTEN=:8884",
		"KASA2MQTT_MQTT_EMBEDDED_TLS_CERT="+cert,
		"KASA2MQTT_MQTT_EMBEDDED_TLS_KEY="+key,
		"KASA2MQTT_MQTT_EMBEDDED_WEBSOCKET_LISTEN=:8083",
		"KASA2MQTT_MQTT_EMBEDDED_WEBSOCKET_ALLOWED_ORIGINS_0=https://ha.example:8123",
	)
	if err != nil {
		t.Fatal(err)
	}
	e = c.MQTT.Embedded
	if e.Listen != ":1884" || e.Persistence || e.MaxPacketSize != 2<<20 || e.TLS != (EmbeddedTLS{":8884", cert, key}) ||
		e.WebSocket.Listen != ":8083" || !slices.Equal(e.WebSocket.AllowedOrigins, []string{"https://ha.example:8123"}) {
		t.Errorf("from the environment: %+v", e)
	}
}

func TestEmbedded_Errors(t *testing.T) {
	dir := t.TempDir()
	_, cert, key := writeTestCert(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "garbage.pem"), []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		yaml string
		env  []string
		want string
	}{
		{"max_packet_size: 1024", nil, `mqtt.embedded.max_packet_size: "1024" (line 6): must be 65536 (64 KiB) to 268435456 (256 MiB) bytes`},
		{"max_packet_size: 1GiB", nil, `mqtt.embedded.max_packet_size: "1GiB" (line 6): must be a whole number`},
		{"persistence: sometimes", nil, `mqtt.embedded.persistence: "sometimes" (line 6): must be true or false`},
		{"tls:\n      listen: \":8883\"", nil, `mqtt.embedded.tls.cert (line 6): required with mqtt.embedded.tls.listen`},
		{"tls:\n      listen: \":8883\"\n      cert: " + cert, nil, `mqtt.embedded.tls.key (line 6): required with mqtt.embedded.tls.listen`},
		{"tls:\n      cert: " + cert + "\n      key: " + key, nil, `mqtt.embedded.tls.listen (line 6): required with mqtt.embedded.tls.cert`},
		{"tls:\n      listen: \":8883\"\n      cert: garbage.pem\n      key: garbage.pem", nil, `mqtt.embedded.tls.cert: "` + filepath.Join(dir, "garbage.pem") + `" (line 8): cannot load the certificate and key`},
		{"tls:\n      listen: nowhere\n      cert: " + cert + "\n      key: " + key, nil, `mqtt.embedded.tls.listen: "nowhere" (line 7): must be host:port, e.g. "127.0.0.1:8883"`},
		{"websocket:\n      listen: \"127.0.0.1:1883\"", nil, `mqtt.embedded.websocket.listen: "127.0.0.1:1883" (line 7): same address as mqtt.embedded.listen`},
		{"websocket:\n      allowed_origins: [dashboard.local]", nil, `mqtt.embedded.websocket.allowed_origins[0]: "dashboard.local" (line 7): must be "*" or an origin`},
		{"listen: 127.0.0.1:1883", []string{"KASA2MQTT_MQTT_EMBEDDED_MAX_PACKET_SIZE=10"},
			`mqtt.embedded.max_packet_size: "10" (from environment variable KASA2MQTT_MQTT_EMBEDDED_MAX_PACKET_SIZE): must be 65536`},
	} {
		_, err := parseEnv(kasaAccount+"mqtt:\n  embedded:\n    "+tc.yaml+"\n", dir, tc.env...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
