package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
)

// parseEnv parses data with the given KASA2MQTT_ variables as the whole
// environment (and nothing else set).
func parseEnv(data string, dir string, vars ...string) (*Config, error) {
	return parse([]byte(data), filepath.Join(dir, "config.yaml"), env{
		lookup:   func(string) (string, bool) { return "", false },
		readFile: readCapped,
		environ:  func() []string { return append([]string{"HOME=/root", "PATH=/bin"}, vars...) },
	})
}

const kasaAccount = "accounts:\n  - provider: kasa\n    username: you@example.com\n"

func TestEnv_OverridesFileValues(t *testing.T) {
	dir := t.TempDir()
	c, err := parseEnv("mqtt:\n  server: mqtt://file:1883\n  base_topic: fromfile\n"+kasaAccount, dir,
		"KASA2MQTT_MQTT_SERVER=mqtts://env.example:8883",
		"KASA2MQTT_MQTT_KEEPALIVE=45s",
		"KASA2MQTT_HOMEASSISTANT_ENABLED=false",
		"KASA2MQTT_MQTT_OUTPUT=attribute",
		"KASA2MQTT_ACCOUNTS_0_PASSWORD=p${NOT_EXPANDED}\"\\",
		"KASA2MQTT_POLL_DEVICE_LIST_INTERVAL=1h",
		"KASA2MQTT_HTTP_LISTEN=127.0.0.1:9792",
		"KASA2MQTT_LOG_LEVELS_KASA=debug",
		"KASA2MQTT_TEST_ANYTHING=ignored",
	)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.MQTT.Server != "mqtts://env.example:8883":
		t.Errorf("server = %q: the variable must win over the file", c.MQTT.Server)
	case c.MQTT.BaseTopic != "fromfile":
		t.Errorf("base_topic = %q: keys without a variable keep the file's value", c.MQTT.BaseTopic)
	case c.MQTT.KeepAlive != 45*time.Second || c.HomeAssistant.Enabled || c.MQTT.Output != bridge.OutputAttribute:
		t.Errorf("keepalive %v, ha %v, output %q", c.MQTT.KeepAlive, c.HomeAssistant.Enabled, c.MQTT.Output)
	case kasaOf(c.Accounts[0]).Password != `p${NOT_EXPANDED}"\`:
		t.Errorf("password = %q: values from the environment are verbatim", kasaOf(c.Accounts[0]).Password)
	case c.Poll.DeviceListInterval != time.Hour || c.HTTP.Listen != "127.0.0.1:9792":
		t.Errorf("poll %v http %q", c.Poll.DeviceListInterval, c.HTTP.Listen)
	case c.Log.Levels["kasa"] != "debug":
		t.Errorf("log.levels = %v", c.Log.Levels)
	}
}

func TestEnv_WholeConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseEnv("", dir,
		"KASA2MQTT_ACCOUNTS_0_PROVIDER=kasa",
		"KASA2MQTT_ACCOUNTS_0_USERNAME=you@example.com",
		"KASA2MQTT_ACCOUNTS_0_PASSWORD_FILE=secret",
		"KASA2MQTT_ACCOUNTS_1_PROVIDER=tuya",
		"KASA2MQTT_ACCOUNTS_1_ACCESS_ID=id",
		"KASA2MQTT_ACCOUNTS_1_ACCESS_SECRET_FILE="+filepath.Join(dir, "secret"),
		"KASA2MQTT_ACCOUNTS_1_REGION=eu",
		"KASA2MQTT_MQTT_PASSWORD_FILE=secret",
		"KASA2MQTT_STATE_DIR=/data",
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) != 2 || kasaOf(c.Accounts[0]).Password != "s3cret" || tuyaOf(c.Accounts[1]).AccessSecret != "s3cret" ||
		c.Accounts[1].Name != "tuya" || c.MQTT.Password != "s3cret" || c.StateDir != "/data" {
		t.Errorf("config from the environment: %+v", c.Redacted())
	}
	// An empty file and no variables stays an error.
	if _, err := parseEnv("", dir); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file, no variables: %v", err)
	}
}

func TestEnv_Errors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		vars []string
		want string
	}{
		{"typo", []string{"KASA2MQTT_MQTT_SERVR=hunter2"}, "config: environment variable KASA2MQTT_MQTT_SERVR: no such key under mqtt"},
		{"unknown section", []string{"KASA2MQTT_BOGUS=hunter2"}, "config: environment variable KASA2MQTT_BOGUS: no such config key"},
		{"section", []string{"KASA2MQTT_MQTT=x"}, "config: environment variable KASA2MQTT_MQTT: mqtt is a section: set its keys, e.g. KASA2MQTT_MQTT_<KEY>"},
		{"devices", []string{"KASA2MQTT_DEVICES_ABC_NAME=x"}, "devices can only be set in the config file"},
		{"no index", []string{"KASA2MQTT_ACCOUNTS_PASSWORD=hunter2"}, "accounts needs an index"},
		{"bad duration", []string{"KASA2MQTT_POLL_INTERVAL=60"}, `config: poll.interval: "60" (from environment variable KASA2MQTT_POLL_INTERVAL): a duration needs a unit`},
		{"too short", []string{"KASA2MQTT_POLL_INTERVAL=1s"}, `config: poll.interval: "1s" (from environment variable KASA2MQTT_POLL_INTERVAL): must be at least 5s`},
		{"bad bool", []string{"KASA2MQTT_HOMEASSISTANT_ENABLED=maybe"}, `(from environment variable KASA2MQTT_HOMEASSISTANT_ENABLED): must be true or false`},
		{"attribute with HA", []string{"KASA2MQTT_MQTT_OUTPUT=attribute"}, `mqtt.output: "attribute" (from environment variable KASA2MQTT_MQTT_OUTPUT): Home Assistant discovery reads the JSON state`},
		{"bad component", []string{"KASA2MQTT_LOG_LEVELS_FOO=debug"}, `log.levels.foo (from environment variable KASA2MQTT_LOG_LEVELS_FOO): unknown component "foo"`},
		{"file and value", []string{"KASA2MQTT_MQTT_PASSWORD=hunter2", "KASA2MQTT_MQTT_PASSWORD_FILE=x"}, "set either mqtt.password or mqtt.password_file, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEnv(kasaAccount, dir, tc.vars...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the variable's value: %v", err)
			}
		})
	}
}

func TestNewKeys_Validation(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCert(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "not-pem"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := "mqtt:\n  server: mqtts://broker:8883\n  tls:\n    ca: " + filepath.Base(ca) + "\n    cert: " + cert + "\n    key: " + key + "\n    server_name: broker.lan\n" + kasaAccount
	c, err := parseEnv(ok, dir)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.MQTTTLSConfig()
	if err != nil || tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "broker.lan" {
		t.Fatalf("TLS config %+v, %v", tc, err)
	}
	if c2, _ := parseEnv(kasaAccount, dir); c2 != nil {
		if tc, err := c2.MQTTTLSConfig(); tc != nil || err != nil {
			t.Errorf("no tls keys: want nil config, got %v %v", tc, err)
		}
	}

	for _, bad := range []struct{ yaml, want string }{
		{"mqtt:\n  server: mqtt://broker\n  tls:\n    ca: " + ca + "\n", "config: mqtt.tls (line 3): applies to mqtts:// servers only"},
		{"mqtt:\n  server: mqtts://broker\n  tls:\n    ca: not-pem\n", `/not-pem" (line 4): no PEM certificate found in the CA file`},
		{"mqtt:\n  server: mqtts://broker\n  tls:\n    ca: missing.pem\n", `/missing.pem" (line 4): cannot read the CA file`},
		{"mqtt:\n  server: mqtts://broker\n  tls:\n    cert: " + cert + "\n", "config: mqtt.tls.key (line 3): required with mqtt.tls.cert"},
		{"mqtt:\n  server: mqtts://broker\n  tls:\n    cert: " + cert + "\n    key: " + ca + "\n", "mqtt.tls.cert: " + `"` + cert + `"` + " (line 4): cannot load the client certificate and key"},
		{"mqtt:\n  keepalive: 2s\n", `config: mqtt.keepalive: "2s" (line 2): must be at least 5s`},
		{"mqtt:\n  max_reconnect_interval: 10ms\n", `mqtt.max_reconnect_interval: "10ms" (line 2): must be at least 1s`},
		{"mqtt:\n  output: xml\n", `mqtt.output: "xml" (line 2): must be "json", "attribute" or "attribute_and_json"`},
		{"http:\n  listen: localhost\n", `http.listen: "localhost" (line 2): must be host:port, e.g. "127.0.0.1:9792" or ":9792"`},
		{"log:\n  levels:\n    kasa: verbose\n", `log.levels.kasa: "verbose" (line 3): must be one of debug, info, warn, error`},
	} {
		_, err := parseEnv(bad.yaml+kasaAccount, dir)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q:\n got %v\nwant %q", bad.yaml, err, bad.want)
		}
	}
}

// writeTestCert writes a self-signed CA certificate and a client
// certificate with its key as PEM files into dir.
func writeTestCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", der), write("client.pem", "CERTIFICATE", der), write("client.key", "EC PRIVATE KEY", kder)
}

func FuzzEnvOverrides(f *testing.F) {
	for _, s := range [][2]string{
		{"MQTT_SERVER", "mqtt://x"}, {"ACCOUNTS_0_PASSWORD", "p"}, {"ACCOUNTS_7_PROVIDER", "tuya"},
		{"LOG_LEVELS_KASA", "debug"}, {"POLL_INTERVAL", "5s"}, {"DEVICES_X_NAME", "n"}, {"MQTT", ""},
		{"ACCOUNTS_99999999999999999999_NAME", "x"}, {"ACCOUNTS_-1_NAME", "x"}, {"HTTP_LISTEN", ":0"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		c, err := parse([]byte(kasaAccount), "fuzz/config.yaml", env{
			lookup:   func(string) (string, bool) { return "", false },
			readFile: func(string) ([]byte, error) { return []byte("pw"), nil },
			environ:  func() []string { return []string{EnvPrefix + name + "=" + value} },
		})
		if (c == nil) == (err == nil) {
			t.Fatalf("parse returned config %v and error %v", c != nil, err)
		}
		if err != nil {
			if len(value) >= 6 && strings.Contains(err.Error(), value) && strings.Contains(strings.ToLower(name), "password") {
				t.Fatalf("error shows a password value: %v", err)
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("parse accepted a config that Validate rejects: %v", verr)
		}
	})
}

// A missing file is excused only when the accounts come from the
// environment: KASA2MQTT_HTTP_LISTEN (set by the systemd unit and the
// Docker image) must not hide a wrong -c path.
func TestLoad_MissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	t.Setenv("KASA2MQTT_HTTP_LISTEN", "127.0.0.1:9792")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file with only KASA2MQTT_HTTP_LISTEN: %v, want the file's error", err)
	}
	t.Setenv("KASA2MQTT_ACCOUNTS_0_PROVIDER", "kasa")
	t.Setenv("KASA2MQTT_ACCOUNTS_0_USERNAME", "you@example.com")
	c, err := Load(missing)
	if err != nil || len(c.Accounts) != 1 || c.HTTP.Listen != "127.0.0.1:9792" {
		t.Errorf("accounts from the environment, no file: %+v, %v", c, err)
	}
}
