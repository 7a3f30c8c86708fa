package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

// The v2 section of a Kasa account: its keys are secrets like password
// (masked, read from <key>_file, set from the environment), ca_file is
// relative to the config file, and problems name the nested key and line.
func TestKasaV2Section(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret-key"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, _, _ := writeTestCert(t, dir)
	if err := os.Rename(ca, filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	c, err := parseEnv(`accounts:
  - provider: kasa
    username: you@example.com
    api: v2
    v2:
      secret_key_file: secret-key
      ca_file: ca.pem
`, dir, "KASA2MQTT_ACCOUNTS_0_V2_ACCESS_KEY=access-"+secret)
	if err != nil {
		t.Fatal(err)
	}
	k := kasaOf(c.Accounts[0])
	if k.API != kasa.APIV2 || k.URL != kasa.DefaultV2URL || k.V2.SecretKey != secret || k.V2.AccessKey != "access-"+secret ||
		k.V2.CAFile != filepath.Join(dir, "ca.pem") {
		t.Fatalf("settings = %+v", k)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), secret) || !strings.Contains(string(y), "access_key: '***'") || !strings.Contains(string(y), "secret_key: '***'") {
		t.Errorf("check-config output:\n%s", y)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	_ = os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("no certificate"), 0o600)
	_, err = parseEnv("accounts:\n  - provider: kasa\n    username: u\n    api: v2\n    v2: {access_key: a, secret_key: b, ca_file: bad.pem}\n", dir)
	if err == nil || !strings.Contains(err.Error(), "accounts[0].v2.ca_file") {
		t.Errorf("a CA file without certificates: %v", err)
	}

	_, err = Parse([]byte(`accounts:
  - provider: kasa
    username: you@example.com
    api: v2
    v2:
      access_key: `+secret+`
      access_key_file: elsewhere
`), filepath.Join(dir, "config.yaml"))
	if err == nil || !strings.Contains(err.Error(), "accounts[0].v2.access_key_file") || strings.Contains(err.Error(), secret) {
		t.Errorf("both access_key and access_key_file: %v", err)
	}

	_, err = Parse([]byte("accounts:\n  - provider: kasa\n    username: you@example.com\n    api: v2\n"), "")
	for _, want := range []string{"accounts[0].v2.access_key", "accounts[0].v2.secret_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate without keys: %v, want %s", err, want)
		}
	}
	if fe := newFieldError("accounts[0].v2.secret_key", secret, 3, os.ErrInvalid); strings.Contains(fe.Error(), secret) {
		t.Errorf("a v2 key is shown: %v", fe)
	}
}
