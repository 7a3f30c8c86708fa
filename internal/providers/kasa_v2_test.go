package providers

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// A V2 Kasa account: the settings' keys and CA file reach the provider,
// and its login has the code step, which ends in a usable account.
func TestOpen_KasaV2Account(t *testing.T) {
	fake := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	t.Cleanup(fake.Close)
	fake.AddAccount(user, password)
	fake.Require2FA(user, true)
	plug := fake.AddPlug(user, "Lamp", "HS103(US)")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, fake.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := func(caFile string) *kasa.Config {
		c := &kasa.Config{Username: user, URL: fake.URL(), API: kasa.APIV2,
			V2: kasa.V2Config{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey, CAFile: caFile}}
		c.SetDefaults()
		return c
	}
	d := Deps{StateDir: dir, HTTPClient: fake.Client()}
	if _, err := Open("kasa", "home", settings(filepath.Join(dir, "missing.pem")), d); err == nil || !strings.Contains(err.Error(), "v2.ca_file") {
		t.Errorf("Open with a missing CA file: %v", err)
	}
	a, err := Open("kasa", "home", settings(ca), d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Provider.ListDevices(ctxT(t))
	if got := Advise("kasa", "home", err); !errors.Is(err, cloud.ErrLoginNeeded) || !strings.HasSuffix(got.Error(), "; run `kasa2mqtt login -account home`") {
		t.Fatalf("ListDevices of a 2FA account without tokens: %v", got)
	}
	code := a.Login.Code
	if code == nil {
		t.Fatal("no code step")
	}
	err = a.Login.Login(ctxT(t), password)
	methods, ok := code.Needed(err)
	if !ok || !slices.Equal(methods, []string{CodeByPush, CodeByEmail}) || !code.Pending() {
		t.Fatalf("Login = %v; Needed = %v %v", err, methods, ok)
	}
	if _, err := code.Request(ctxT(t), password, "sms"); err == nil {
		t.Error("an unknown method was accepted")
	}
	where, err := code.Request(ctxT(t), password, CodeByEmail)
	if err != nil || !strings.Contains(where, user) {
		t.Fatalf("Request = %q, %v", where, err)
	}
	sent, _, _ := fake.MFACode(user)
	if err := code.Complete(ctxT(t), "", "1"+sent); !code.WrongCode(err) {
		t.Errorf("a wrong code: %v", err)
	}
	if err := code.Complete(ctxT(t), "", sent); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	inv, err := a.Inventory(ctxT(t))
	if err != nil || len(inv) != 1 || inv[0].ID != plug || inv[0].Server != fake.RegionURL() {
		t.Errorf("inventory = %+v, %v", inv, err)
	}

	// A V1 account has no code step.
	v1, err := Open("kasa", "v1", &kasa.Config{Username: user, URL: fake.URL()}, d)
	if err != nil || v1.Login.Code != nil {
		t.Errorf("V1 account: %+v, %v", v1, err)
	}
}

func TestKasaSettings_V2Validation(t *testing.T) {
	tests := []struct {
		set     func(c *kasa.Config)
		wantErr []string
	}{
		{func(c *kasa.Config) { c.API = "v3" }, []string{"api"}},
		{func(c *kasa.Config) { c.API = kasa.APIV2 }, []string{"v2.access_key", "v2.secret_key"}},
		{func(c *kasa.Config) {
			c.API, c.V2 = kasa.APIV2, kasa.V2Config{AccessKey: "a", SecretKey: secret, CAFile: "/nonexistent/ca.pem"}
		}, []string{"v2.ca_file"}},
		{func(c *kasa.Config) { c.API, c.V2 = kasa.APIV2, kasa.V2Config{AccessKey: "a", SecretKey: secret} }, nil},
	}
	for _, tt := range tests {
		c := &kasa.Config{Username: user}
		tt.set(c)
		c.SetDefaults()
		var keys []string
		if j, ok := c.Validate().(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				ce, _ := errors.AsType[*cloud.ConfigError](e)
				keys = append(keys, ce.Key)
				if strings.Contains(ce.Error(), secret) {
					t.Errorf("problem repeats the secret: %v", ce)
				}
			}
		}
		if !slices.Equal(keys, tt.wantErr) {
			t.Errorf("%+v: problems with %v, want %v", c, keys, tt.wantErr)
		}
	}
	c := &kasa.Config{Username: user, API: kasa.APIV2}
	c.SetDefaults()
	if c.URL != kasa.DefaultV2URL {
		t.Errorf("v2 url default = %q", c.URL)
	}
}
