package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// secret is the password used by test files; it must never show up in an
// error, Redacted or YAML.
const secret = "hunter2"

// mustParse parses data or fails the test.
func mustParse(tb testing.TB, data, path string) *Config {
	tb.Helper()
	c, err := Parse([]byte(data), path)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return c
}

// errList flattens an errors.Join result.
func errList(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestLoad_BadConfigs(t *testing.T) {
	// KASA2MQTT_TEST_UNSET must be unset; t.Setenv restores it afterwards.
	t.Setenv("KASA2MQTT_TEST_UNSET", "")
	os.Unsetenv("KASA2MQTT_TEST_UNSET")

	tests := []struct {
		file  string
		want  []string // one expected substring per reported error, in order
		notIn string   // must not appear in the error text
	}{
		{"unknown_top_level.yaml", []string{`config: acounts (line 3): unknown key (did you mean "accounts"?)`}, ""},
		{"unknown_nested_key.yaml", []string{`config: mqtt.sever (line 6): unknown key (did you mean "server"?)`}, ""},
		{"unknown_device_key.yaml", []string{`config: devices.8006ABCDEF.topc (line 6): unknown key (did you mean "topic"?)`}, ""},
		{"wrong_type_bool.yaml", []string{`config: homeassistant.enabled: "sometimes" (line 2): must be true or false`}, ""},
		{"wrong_type_list.yaml", []string{`config: accounts (line 1): must be a list, got a mapping`}, ""},
		{"wrong_type_mapping.yaml", []string{`config: mqtt (line 1): must be a mapping (key: value pairs), got a string`}, ""},
		{"duration_as_int.yaml", []string{`config: poll.interval: "60" (line 5): a duration needs a unit: write e.g. "60s"`}, ""},
		{"duration_garbage.yaml", []string{`config: poll.device_list_interval: "half an hour" (line 5): must be a duration such as "60s", "30m" or "1h30m"`}, ""},
		{"interval_too_short.yaml", []string{`config: poll.interval: "1s" (line 5): must be at least 5s`}, ""},
		{"device_list_interval_too_short.yaml", []string{`config: poll.device_list_interval: "5s" (line 5): must be at least 10s`}, ""},
		{"poll_timeout_and_threshold.yaml", []string{
			`config: poll.request_timeout: "500ms" (line 5): must be at least 1s`,
			`config: poll.unavailable_after: "0" (line 6): must be at least 1`,
		}, ""},
		{"server_tcp_scheme.yaml", []string{`config: mqtt.server: "tcp://broker.example.com:1883" (line 2): scheme "tcp://" is not supported: use mqtt://host[:port]`}, ""},
		{"server_ssl_scheme.yaml", []string{`config: mqtt.server: "ssl://broker.example.com:8883" (line 2): scheme "ssl://" is not supported: use mqtts://host[:port] for TLS`}, ""},
		{"server_no_scheme.yaml", []string{`config: mqtt.server: "broker.example.com:1883" (line 2): must be mqtt://host[:port] or mqtts://host[:port]`}, ""},
		{"server_credentials.yaml", []string{`config: mqtt.server: "mqtt://user:xxxxx@broker.example.com:1883" (line 2): credentials in the URL are not allowed`}, secret},
		{"base_topic_wildcard.yaml", []string{`config: mqtt.base_topic: "kasa/#" (line 2): must not contain MQTT wildcards '+' or '#'`}, ""},
		{"base_topic_slash.yaml", []string{`config: mqtt.base_topic: "/kasa" (line 2): must not start or end with '/'`}, ""},
		{"client_id_wildcard.yaml", []string{`config: mqtt.client_id: "kasa+1" (line 2): must not contain '+' or '#'`}, ""},
		{"embedded_listen.yaml", []string{`config: mqtt.embedded.listen: "localhost" (line 3): must be host:port`}, ""},
		{"prefix_equals_base_topic.yaml", []string{`config: homeassistant.discovery_prefix: "home" (line 4): must differ from mqtt.base_topic`}, ""},
		{"status_topic_wildcard.yaml", []string{`config: homeassistant.status_topic: "homeassistant/+" (line 2): must not contain MQTT wildcards`}, ""},
		{"no_accounts.yaml", []string{`config: accounts (line 3): at least one account is required`}, ""},
		{"unknown_provider.yaml", []string{`config: accounts[0].provider: "hue" (line 2): unsupported provider; supported providers: kasa, tuya`}, ""},
		{"tuya_missing_fields.yaml", []string{`config: accounts[0].access_id (line 2): required for tuya accounts`, `config: accounts[0].access_secret (line 2): required for tuya accounts: set access_secret or access_secret_file`, `config: accounts[0].region (line 2): set region (one of cn, us, us-e, eu, eu-w, in) or endpoint`}, ""},
		{"tuya_region_and_endpoint.yaml", []string{`config: accounts[0].endpoint: "https://openapi.tuyaeu.com" (line 6): set either region or endpoint, not both`}, "tuya-secret-value"},
		{"tuya_bad_region.yaml", []string{`config: accounts[0].region: "mars" (line 5): unknown data centre`}, "tuya-secret-value"},
		{"tuya_bad_auth.yaml", []string{`config: accounts[0].auth: "oauth" (line 6): must be "simple" or "code"`}, "tuya-secret-value"},
		{"tuya_bad_push.yaml", []string{`config: accounts[0].push_url: "https://mqe.example.com:8285" (line 7): must start with wss:// (or ws:// for a local test server)`}, "tuya-secret-value"},
		{"reconcile_below_interval.yaml", []string{`config: poll.reconcile_interval: "1m0s" (line 6): must be at least poll.interval (2m0s)`}, ""},
		{"tuya_with_kasa_fields.yaml", []string{`config: accounts[0].password: "***" (line 6): is for kasa accounts`}, "kasa-pw-value"},
		{"kasa_with_tuya_fields.yaml", []string{`config: accounts[0].access_secret: "***" (line 5): is for tuya accounts`}, "tuya-secret-value"},
		{"device_topic_reserved_segment.yaml", []string{`config: devices.ABC.topic: "lamp/set" (line 6): levels named "set", "get" or "availability" are reserved`}, ""},
		{"device_scale_not_int.yaml", []string{`config: devices.ABC.scale.cur_power: "x" (line 8): must be a whole number`}, ""},
		{"duplicate_account_names.yaml", []string{`config: accounts[1].name: "home" (line 6): duplicate account name (also used by accounts[0])`}, ""},
		{"account_names_required.yaml", []string{
			`config: accounts[0].name (line 2): required when several "kasa" accounts are configured`,
			`config: accounts[1].name (line 4): required when several "kasa" accounts are configured`,
		}, ""},
		{"bad_account_name.yaml", []string{`config: accounts[0].name: "My Home" (line 3): must be 1-32 of a-z, 0-9, '_' and '-'`}, ""},
		{"missing_username.yaml", []string{`config: accounts[0].username (line 2): required for kasa accounts`}, secret},
		{"bad_url.yaml", []string{`config: accounts[0].url: "ftp://wap.tplinkcloud.com" (line 4): must be http or https`}, ""},
		{"bad_log_level.yaml", []string{`config: log.level: "verbose" (line 5): must be one of debug, info, warn, error`}, ""},
		{"bad_log_format.yaml", []string{`config: log.format: "xml" (line 5): must be one of console, json`}, ""},
		{"undefined_env.yaml", []string{`config: accounts[0].password (line 4): environment variable "KASA2MQTT_TEST_UNSET" is not set`}, ""},
		{"unterminated_env.yaml", []string{`config: accounts[0].password (line 4): unterminated "${"`}, secret},
		{"password_and_password_file.yaml", []string{`config: accounts[0].password_file: "password.txt" (line 5): set either accounts[0].password or accounts[0].password_file, not both`}, secret},
		{"missing_password_file.yaml", []string{`config: accounts[0].password_file: "does-not-exist.txt" (line 4): cannot read password file: open ` + filepath.Join("testdata", "bad", "does-not-exist.txt")}, ""},
		{"duplicate_device_topic.yaml", []string{`config: devices.BBBB0002.topic: "kitchen/coffee" (line 8): same topic as devices.AAAA0001`}, ""},
		{"bad_device_topic.yaml", []string{`config: devices.AAAA0001.topic: "Kitchen Coffee" (line 6): must be lowercase letters, digits, '_' and '-', with '/' between levels`}, ""},
		{"reserved_device_topic.yaml", []string{`config: devices.AAAA0001.topic: "bridge" (line 6): "bridge" is reserved`}, ""},
		{"duplicate_key.yaml", []string{`config: mqtt (line 3): duplicate key (first set on line 1)`}, ""},
		{"two_documents.yaml", []string{`config: testdata/bad/two_documents.yaml: line 4: only one YAML document is allowed`}, ""},
		{"syntax_error.yaml", []string{`config: testdata/bad/syntax_error.yaml: yaml: line `}, ""},
		{"empty.yaml", []string{`config: testdata/bad/empty.yaml: config is empty`}, ""},
		{"comments_only.yaml", []string{`config: testdata/bad/comments_only.yaml: config is empty`}, ""},
	}

	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "bad", tt.file))
			if err == nil {
				t.Fatalf("Load succeeded, want errors %q", tt.want)
			}
			if c != nil {
				t.Errorf("Load returned a config along with the error")
			}
			got := errList(err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(got[i].Error(), want) {
					t.Errorf("error %d:\n got: %s\nwant: …%s…", i, got[i], want)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error text leaks the secret: %v", err)
			}
			if tt.notIn != "" && strings.Contains(err.Error(), tt.notIn) {
				t.Errorf("error text contains %q: %v", tt.notIn, err)
			}
		})
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestParse_FieldErrorsAreInspectable(t *testing.T) {
	_, err := Load("testdata/bad/bad_url.yaml")
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(*FieldError) failed for %v", err)
	}
	if fe.Field != "accounts[0].url" || fe.Line != 4 || fe.Value != "ftp://wap.tplinkcloud.com" {
		t.Errorf("got %+v", fe)
	}
}

func TestParse_MinimalGetsEveryDefault(t *testing.T) {
	c := mustParse(t, "accounts:\n  - provider: kasa\n    username: you@example.com\n", "/etc/kasa2mqtt/config.yaml")

	want := Default()
	want.StateDir = "/etc/kasa2mqtt/state"
	want.Accounts = []Account{kasaAcct("kasa", "you@example.com")}
	want.Accounts[0].Budget = "none" // the kasa default
	want.lines = c.lines
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}

	// Spot-check Default itself against the documented values.
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"mqtt.server", d.MQTT.Server, ""},
		{"mqtt.base_topic", d.MQTT.BaseTopic, "kasa2mqtt"},
		{"mqtt.client_id", d.MQTT.ClientID, ""},
		{"mqtt.embedded.listen", d.MQTT.Embedded.Listen, "127.0.0.1:1883"},
		{"homeassistant.enabled", d.HomeAssistant.Enabled, true},
		{"homeassistant.discovery_prefix", d.HomeAssistant.DiscoveryPrefix, "homeassistant"},
		{"homeassistant.status_topic", d.HomeAssistant.StatusTopic, "homeassistant/status"},
		{"poll.interval", d.Poll.Interval, 60 * time.Second},
		{"poll.device_list_interval", d.Poll.DeviceListInterval, 30 * time.Minute},
		{"log.level", d.Log.Level, "info"},
		{"log.format", d.Log.Format, "console"},
		{"state_dir", d.StateDir, ""},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("Default().%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestParse_NullValueKeepsDefault(t *testing.T) {
	c := mustParse(t, "mqtt:\n  base_topic:\n  server: ~\nhomeassistant:\npoll:\n  interval:\naccounts:\n  - provider: kasa\n    username: u\n", "")
	if c.MQTT.BaseTopic != bridge.DefaultBaseTopic || c.Poll.Interval != bridge.DefaultPollInterval || !c.HomeAssistant.Enabled {
		t.Errorf("defaults lost: %+v", c)
	}
	if c.StateDir != "state" {
		t.Errorf("StateDir = %q, want %q (relative to the working directory when path is empty)", c.StateDir, "state")
	}
}

func TestParse_Overrides(t *testing.T) {
	c := mustParse(t, `
mqtt:
  server: mqtts://broker.example.com:8883
  base_topic: home/kasa
  client_id: kasa-1
homeassistant:
  enabled: false
accounts:
  - provider: kasa
    name: home
    username: a@example.com
    url: http://127.0.0.1:8080/
  - provider: kasa
    name: office
    username: b@example.com
poll:
  interval: 1m30s
  device_list_interval: 1h
state_dir: var/state
log: {level: debug, format: json}
devices:
  8006AAAA:
    name: Coffee
    topic: kitchen/coffee
  8006BBBB:
    disabled: true
`, "/etc/kasa2mqtt/config.yaml")
	if c.MQTT.Server != "mqtts://broker.example.com:8883" || c.MQTT.BaseTopic != "home/kasa" || c.ClientID() != "kasa-1" {
		t.Errorf("mqtt = %+v", c.MQTT)
	}
	if c.HomeAssistant.Enabled {
		t.Error("homeassistant.enabled not overridden")
	}
	if kasaOf(c.Accounts[0]).URL != "http://127.0.0.1:8080/" || kasaOf(c.Accounts[1]).URL != kasa.DefaultURL {
		t.Errorf("accounts = %+v", c.Accounts)
	}
	if c.Poll.Interval != 90*time.Second || c.Poll.DeviceListInterval != time.Hour {
		t.Errorf("poll = %+v", c.Poll)
	}
	if c.StateDir != "/etc/kasa2mqtt/var/state" {
		t.Errorf("StateDir = %q", c.StateDir)
	}
	wantDevices := map[string]DeviceOption{
		"8006AAAA": {Name: "Coffee", Topic: "kitchen/coffee"},
		"8006BBBB": {Disabled: true},
	}
	if !reflect.DeepEqual(c.Devices, wantDevices) {
		t.Errorf("devices = %+v", c.Devices)
	}
	if got := c.line("devices.8006AAAA.topic"); got != 24 {
		t.Errorf("line(devices.8006AAAA.topic) = %d, want 24", got)
	}
}

func TestParse_EnvExpansion(t *testing.T) {
	const pw = `p$a"s\s${NOT_EXPANDED} 'x'`
	t.Setenv("KASA2MQTT_TEST_PW", pw)
	t.Setenv("KASA2MQTT_TEST_USER", "you")
	t.Setenv("KASA2MQTT_TEST_EMPTY", "")
	t.Setenv("KASA2MQTT_TEST_BOOL", "false")
	t.Setenv("KASA2MQTT_TEST_DUR", "2m")

	c := mustParse(t, `
mqtt:
  client_id: "cost-$$5-$${HOME}-$x"
  username: ${KASA2MQTT_TEST_EMPTY}
  password: '${KASA2MQTT_TEST_PW}'
homeassistant:
  enabled: ${KASA2MQTT_TEST_BOOL}
poll:
  interval: ${KASA2MQTT_TEST_DUR}
accounts:
  - provider: kasa
    username: ${KASA2MQTT_TEST_USER}@example.com
    password: ${KASA2MQTT_TEST_PW}
`, "")
	if kasaOf(c.Accounts[0]).Password != pw || c.MQTT.Password != pw {
		t.Errorf("password = %q / %q, want %q (expanded values are not re-expanded or unquoted)", kasaOf(c.Accounts[0]).Password, c.MQTT.Password, pw)
	}
	if kasaOf(c.Accounts[0]).Username != "you@example.com" {
		t.Errorf("username = %q", kasaOf(c.Accounts[0]).Username)
	}
	if c.MQTT.ClientID != "cost-$5-${HOME}-$x" {
		t.Errorf("client_id = %q, want $$ as a literal $ and a lone $ kept", c.MQTT.ClientID)
	}
	if c.MQTT.Username != "" || c.HomeAssistant.Enabled || c.Poll.Interval != 2*time.Minute {
		t.Errorf("got username %q, enabled %v, interval %v", c.MQTT.Username, c.HomeAssistant.Enabled, c.Poll.Interval)
	}

	// The expanded secret never leaks through Redacted or YAML.
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), pw) {
		t.Errorf("YAML leaks the password:\n%s", y)
	}
}

func TestExpand(t *testing.T) {
	envs := map[string]string{"A": "1", "B_2": "two", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := envs[k]; return v, ok }
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "x${A}y${B_2}z", want: "x1ytwoz"},
		{in: "${E}", want: ""},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "$$${A}", want: "$1"},
		{in: "a$", want: "a$"},
		{in: "$A", want: "$A"},
		{in: "50$ off", want: "50$ off"},
		{in: "${MISSING}", err: `environment variable "MISSING" is not set`},
		{in: "${A", err: `unterminated "${"`},
		{in: "${}", err: "invalid variable reference"},
		{in: "${A:-x}", err: "invalid variable reference"},
		{in: "${1A}", err: "invalid variable reference"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, lookup)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParse_PasswordFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secrets/lf", secret+"\n")
	write("secrets/crlf", secret+"\r\n")
	write("secrets/two", secret+"\n\n")
	write("secrets/none", secret)
	abs := filepath.Join(dir, "secrets", "none")
	write("config.yaml", `
accounts:
  - {provider: kasa, name: lf, username: u, password_file: secrets/lf}
  - {provider: kasa, name: crlf, username: u, password_file: ./secrets/crlf}
  - {provider: kasa, name: two, username: u, password_file: secrets/two}
  - {provider: kasa, name: abs, username: u, password_file: `+abs+`}
`)
	// Load from another working directory: paths are relative to the file.
	t.Chdir(t.TempDir())
	c, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{secret, secret, secret + "\n", secret}
	for i, a := range c.Accounts {
		if kasaOf(a).Password != want[i] {
			t.Errorf("accounts[%d] (%s) password = %q, want %q", i, a.Name, kasaOf(a).Password, want[i])
		}
	}
	if c.StateDir != filepath.Join(dir, "state") {
		t.Errorf("StateDir = %q", c.StateDir)
	}
	// A config loaded from a password file validates again unchanged.
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

func TestParse_AliasesAndMergeKeys(t *testing.T) {
	c := mustParse(t, `
accounts:
  - &kasa
    provider: kasa
    name: home
    username: you@example.com
  - <<: *kasa
    name: office
devices:
  AAAA: &off {disabled: true}
  BBBB: *off
  CCCC:
    <<: *off
    topic: porch
`, "")
	if len(c.Accounts) != 2 || kasaOf(c.Accounts[1]).Username != "you@example.com" || c.Accounts[1].Name != "office" {
		t.Errorf("accounts = %+v", c.Accounts)
	}
	if !c.Devices["BBBB"].Disabled || !reflect.DeepEqual(c.Devices["CCCC"], DeviceOption{Disabled: true, Topic: "porch"}) {
		t.Errorf("devices = %+v", c.Devices)
	}

	for _, bad := range []string{
		"mqtt: &m {<<: *m}\n",
		"mqtt: &m [*m]\n",
		"devices: &d {x: *d}\n",
		"mqtt: {<<: 1}\n",
	} {
		if _, err := Parse([]byte(bad), ""); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestValidate_ReportsEveryViolation(t *testing.T) {
	c := Default()
	c.MQTT.BaseTopic = "a/+"
	c.MQTT.Server = "tcp://x"
	c.Poll.Interval = time.Second
	c.Log.Level = "trace"
	err := c.Validate()
	got := errList(err)
	if len(got) != 5 { // the four above plus "no accounts"
		t.Fatalf("got %d errors, want 5:\n%v", len(got), err)
	}
	for _, e := range got {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%T is not a *FieldError: %v", e, e)
		} else if fe.Line != 0 || strings.Contains(fe.Error(), "(line") {
			t.Errorf("config built in code has a line: %v", fe)
		}
	}
}

func TestValidate_DefaultNeedsOnlyAnAccount(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil || len(errList(err)) != 1 || !strings.Contains(err.Error(), "at least one account") {
		t.Fatalf("Default().Validate() = %v, want only the missing-account error", err)
	}
	c.Accounts = []Account{kasaAcct("kasa", "u")}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidate_Accepts(t *testing.T) {
	base := func() Config {
		c := Default()
		c.Accounts = []Account{kasaAcct("kasa", "u")}
		return c
	}
	tests := map[string]func(*Config){
		"mqtt server":       func(c *Config) { c.MQTT.Server = "mqtt://localhost" },
		"mqtts with port":   func(c *Config) { c.MQTT.Server = "mqtts://broker.example.com:8883" },
		"ipv6 server":       func(c *Config) { c.MQTT.Server = "mqtt://[::1]:1883" },
		"listen any":        func(c *Config) { c.MQTT.Embedded.Listen = ":1883" },
		"listen port 0":     func(c *Config) { c.MQTT.Embedded.Listen = "127.0.0.1:0" },
		"nested base topic": func(c *Config) { c.MQTT.BaseTopic = "home/kasa" },
		"minimum intervals": func(c *Config) {
			c.Poll = Poll{Interval: MinPollInterval, DeviceListInterval: MinDeviceListInterval, RequestTimeout: MinRequestTimeout, UnavailableAfter: 1, Concurrency: 1}
		},
		"empty password":      func(c *Config) { kasaOf(c.Accounts[0]).Password = "" },
		"nested device topic": func(c *Config) { c.Devices = map[string]DeviceOption{"X": {Topic: "kitchen/coffee_1"}} },
		"bridged prefix ok":   func(c *Config) { c.Devices = map[string]DeviceOption{"X": {Topic: "bridges"}} },
		"disabled device":     func(c *Config) { c.Devices = map[string]DeviceOption{"X": {Disabled: true}} },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			c := base()
			mod(&c)
			if err := c.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFieldError_MasksSecrets(t *testing.T) {
	for _, field := range []string{"mqtt.password", "accounts[3].password"} {
		e := &FieldError{Field: field, Value: secret, Line: 9, Err: errors.New("bad")}
		got := e.Error()
		if strings.Contains(got, secret) || !strings.Contains(got, `"***"`) {
			t.Errorf("%s: Error() = %q", field, got)
		}
		if fe := newFieldError(field, secret, 9, errors.New("bad")); fe.Value != "***" {
			t.Errorf("%s: newFieldError kept the value %q", field, fe.Value)
		}
	}
	e := &FieldError{Field: "accounts[0].password_file", Value: "pw.txt", Line: 3, Err: errors.New("x")}
	if want := `config: accounts[0].password_file: "pw.txt" (line 3): x`; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	inner := errors.New("inner")
	if !errors.Is(&FieldError{Field: "f", Err: inner}, inner) {
		t.Error("FieldError does not unwrap")
	}

	// A secret that fails to decode is not echoed either.
	_, err := Parse([]byte("mqtt:\n  password: [\""+secret+"\"]\naccounts: [{provider: kasa, username: u}]\n"), "")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c := mustParse(t, `
mqtt:
  username: mqttuser
  password: `+secret+`
accounts:
  - provider: kasa
    name: a
    username: you@example.com
    password: `+secret+`
  - provider: kasa
    name: b
    username: other@example.com
    url: https://user:`+secret+`@wap.example.com
devices:
  X: {name: Lamp}
`, "")
	r := c.Redacted()
	if r.MQTT.Password != "***" || kasaOf(r.Accounts[0]).Password != "***" || kasaOf(r.Accounts[1]).Password != "" {
		t.Errorf("Redacted passwords = %q, %q, %q", r.MQTT.Password, kasaOf(r.Accounts[0]).Password, kasaOf(r.Accounts[1]).Password)
	}
	if r.MQTT.Username != "mqttuser" || kasaOf(r.Accounts[0]).Username != "you@example.com" {
		t.Error("Redacted changed non-secret fields")
	}
	// The original is untouched and shares no mutable state with the copy.
	r.Accounts[0].Name = "changed"
	r.Devices["X"] = DeviceOption{}
	if c.MQTT.Password != secret || kasaOf(c.Accounts[0]).Password != secret || c.Accounts[0].Name != "a" || c.Devices["X"].Name != "Lamp" {
		t.Error("Redacted modified the original")
	}

	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), secret) {
		t.Errorf("YAML leaks the secret:\n%s", y)
	}
	for _, want := range []string{"password: '***'", "base_topic: kasa2mqtt", "interval: 1m0s", "url: https://user:xxxxx@wap.example.com"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
}

func TestYAML_RoundTrips(t *testing.T) {
	c := mustParse(t, `
mqtt: {server: "mqtt://localhost:1883", client_id: x}
accounts: [{provider: kasa, username: u}]
poll: {interval: 90s}
devices: {A: {topic: a/b, name: "Lamp: \"1\""}}
`, "/etc/k/config.yaml")
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(y), "/etc/k/config.yaml")
	again.lines, c.lines = nil, nil
	if !reflect.DeepEqual(again, c) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v\nYAML:\n%s", again, c, y)
	}
}

func TestConfig_ClientID(t *testing.T) {
	c := Default()
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname")
	}
	if got := c.ClientID(); got != "kasa2mqtt-"+sanitizeClientID(host) {
		t.Errorf("ClientID() = %q", got)
	}
	c.MQTT.ClientID = "fixed"
	if got := c.ClientID(); got != "fixed" {
		t.Errorf("ClientID() = %q, want fixed", got)
	}
	if got := sanitizeClientID("a b+c#d.e_f-g"); got != "a-b-c-d.e_f-g" {
		t.Errorf("sanitizeClientID = %q", got)
	}
}

func TestExampleConfig(t *testing.T) {
	const path = "../../config.example.yaml"
	t.Setenv("KASA_PASSWORD", secret)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("example does not load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example does not validate: %v", err)
	}
	if kasaOf(c.Accounts[0]).Password != secret || kasaOf(c.Accounts[0]).URL != kasa.DefaultURL {
		t.Errorf("account = %+v", c.Accounts[0])
	}
	// Apart from the account, the example sets exactly the defaults.
	want := Default()
	want.Accounts, want.StateDir, want.lines = c.Accounts, c.StateDir, c.lines
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("example differs from the defaults:\n got %+v\nwant %+v", *c, want)
	}

	// Every key of the schema is mentioned (set or commented out).
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := allKeys()
	for _, key := range keys {
		if !strings.Contains(string(data), key+":") {
			t.Errorf("config.example.yaml does not mention %q", key)
		}
	}
}

// allKeys lists every key of the schema and of each provider's settings.
func allKeys() []string {
	keys := yamlKeys(reflect.TypeFor[Config]())
	for _, k := range providers.Kinds() {
		keys = append(keys, yamlKeys(reflect.TypeOf(k.NewSettings()).Elem())...)
	}
	return keys
}

// yamlKeys lists the yaml tag names of t and its nested structs.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Duration]() {
			return nil
		}
		fields, names := structFields(t)
		for _, n := range names {
			keys = append(keys, n)
			keys = append(keys, yamlKeys(t.Field(fields[n]).Type)...)
		}
	case reflect.Slice, reflect.Map:
		keys = append(keys, yamlKeys(t.Elem())...)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	files = append(files, "../../config.example.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("accounts: [{provider: kasa, username: u, password_file: pw}]\ndevices: {a: {topic: x}}\n"))
	f.Add([]byte("a: &a [*a, *a]\nmqtt: &m {<<: [*m, *m]}\n"))

	e := env{
		lookup: func(k string) (string, bool) {
			if k == "SET" {
				return `$"\`, true
			}
			return "", false
		},
		readFile: func(string) ([]byte, error) { return []byte("pw\n"), nil },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "fuzz/config.yaml", e)
		if (c == nil) == (err == nil) {
			t.Fatalf("parse returned config %v and error %v", c != nil, err)
		}
		if err != nil {
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("parse accepted a config that Validate rejects: %v", verr)
		}
		if _, err := c.YAML(); err != nil {
			t.Fatalf("YAML: %v", err)
		}
	})
}

func TestParse_TuyaAccount(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tuya-secret"), []byte("s3cr3t-tuya\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`accounts:
  - provider: tuya
    access_id: abcdefgh12345678
    access_secret_file: tuya-secret
    region: eu-w
devices:
  bf01:
    scale:
      cur_power: 1
`), filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounts[0]
	if a.Name != "tuya" || tuyaOf(a).AccessSecret != "s3cr3t-tuya" || tuyaOf(a).Auth != tuya.AuthSimple || a.Provider != "tuya" {
		t.Fatalf("account = %+v", a)
	}
	if c.Devices["bf01"].Scale["cur_power"] != 1 {
		t.Fatalf("scale override lost: %+v", c.Devices["bf01"])
	}
	out, err := c.YAML()
	if err != nil || strings.Contains(string(out), "s3cr3t-tuya") {
		t.Fatalf("YAML() leaks the access secret or fails: %v\n%s", err, out)
	}
}

// check-config prints every key, set or not, as documented ("the effective
// configuration … defaults filled in"): the empty lists and maps too
// (mqtt.embedded.websocket.allowed_origins, log.levels and a device's
// scale were left out).
func TestYAML_ShowsEveryKey(t *testing.T) {
	c := mustParse(t, `
accounts:
  - {provider: kasa, name: home, username: u, password: p}
  - {provider: tuya, name: garden, access_id: i, access_secret: s, region: eu}
devices: {A: {name: Lamp}}
`, "/etc/k/config.yaml")
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	keys := allKeys()
	for _, key := range keys {
		if !regexp.MustCompile(`(?m)^\s*(- )?` + key + `:`).Match(y) {
			t.Errorf("check-config does not show %q:\n%s", key, y)
		}
	}
}
