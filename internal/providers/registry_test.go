package providers

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

const (
	user     = "owner@example.com"
	password = "pw-for-the-fake"
	accessID = "p3kt9mqz7v2xw8yfabcd"
	secret   = "0123456789abcdef0123456789abcdef"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRegistry_KindsAndLookup(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"kasa", "tuya"}) {
		t.Errorf("Names() = %v, want [kasa tuya] (the order messages list them)", got)
	}
	if _, ok := Lookup("hue"); ok {
		t.Error(`Lookup("hue") found a kind`)
	}
	if _, err := Open("hue", "x", nil, Deps{}); err == nil || !strings.Contains(err.Error(), `unsupported provider "hue"`) {
		t.Errorf("Open of an unknown kind: %v", err)
	}
	for _, k := range Kinds() {
		s := k.NewSettings()
		if v := reflect.ValueOf(s); v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || !v.Elem().IsZero() {
			t.Errorf("%s: NewSettings() = %#v, want a pointer to an empty struct", k.Name, s)
		}
		if !k.Owns(s) {
			t.Errorf("%s does not own its own settings", k.Name)
		}
		// Every key is named, and a secret has a string type.
		st := reflect.TypeOf(s).Elem()
		for i := range st.NumField() {
			f := st.Field(i)
			if f.Tag.Get("yaml") == "" {
				t.Errorf("%s: field %s has no yaml key", k.Name, f.Name)
			}
			if f.Tag.Get("secret") != "" && f.Type.Kind() != reflect.String {
				t.Errorf("%s: secret field %s is not a string", k.Name, f.Name)
			}
		}
		for _, other := range Kinds() {
			if other.Name != k.Name && other.Owns(s) {
				t.Errorf("%s owns the settings of %s", other.Name, k.Name)
			}
		}
	}
}

func TestRegistry_SettingsDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		kind    string
		set     func(Settings)
		wantErr []string // keys with a problem, in order
	}{
		{"kasa", func(Settings) {}, []string{"username"}},
		{"kasa", func(s Settings) { s.(*kasa.Config).Username = user }, nil},
		{"kasa", func(s Settings) { c := s.(*kasa.Config); c.Username, c.URL = user, "ftp://x" }, []string{"url"}},
		{"tuya", func(Settings) {}, []string{"access_id", "access_secret", "region"}},
		{"tuya", func(s Settings) { c := s.(*tuya.Config); c.AccessID, c.AccessSecret, c.Region = accessID, secret, "eu" }, nil},
		{"tuya", func(s Settings) {
			c := s.(*tuya.Config)
			c.AccessID, c.AccessSecret, c.Region, c.Auth = accessID, secret, "mars", "oauth"
		}, []string{"region", "auth"}},
	}
	for _, tt := range tests {
		k, _ := Lookup(tt.kind)
		s := k.NewSettings()
		s.SetDefaults()
		tt.set(s)
		var keys []string
		err := s.Validate()
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				var ce *cloud.ConfigError
				if !errors.As(e, &ce) {
					t.Errorf("%s: %v is not a *cloud.ConfigError", tt.kind, e)
					continue
				}
				keys = append(keys, ce.Key)
				if strings.Contains(ce.Err.Error(), secret) {
					t.Errorf("%s: the problem repeats the secret: %v", tt.kind, ce)
				}
			}
		}
		if !slices.Equal(keys, tt.wantErr) {
			t.Errorf("%s %+v: problems with %v, want %v (%v)", tt.kind, s, keys, tt.wantErr, err)
		}
	}
	// The defaults are the providers' own.
	k, _ := Lookup("kasa")
	s := k.NewSettings()
	s.SetDefaults()
	if got := s.(*kasa.Config).URL; got != kasa.DefaultURL {
		t.Errorf("kasa url default = %q", got)
	}
	k, _ = Lookup("tuya")
	s = k.NewSettings()
	s.SetDefaults()
	if got := s.(*tuya.Config).Auth; got != tuya.AuthSimple {
		t.Errorf("tuya auth default = %q", got)
	}
}

func TestOpen_KasaAccount(t *testing.T) {
	fake := kasatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddAccount(user, password)
	plug := fake.AddPlug(user, "Lamp", "HS103(US)")
	cam := fake.AddRawDevice(user, map[string]any{
		"deviceId": "TAPO0001", "alias": "Cam", "deviceType": "SMART.IPCAMERA", "deviceModel": "C200", "status": 1, "appServerUrl": fake.URL(),
	})
	dir := t.TempDir()
	d := Deps{StateDir: dir, HTTPClient: fake.Client()}

	if _, err := Open("kasa", "home", &tuya.Config{}, d); err == nil {
		t.Error("kasa opened tuya settings")
	}
	// No password: the account needs a person, and Advise says which
	// command; the provider's error itself names none.
	a, err := Open("kasa", "home", &kasa.Config{Username: user, URL: fake.URL()}, d)
	if err != nil {
		t.Fatal(err)
	}
	if a.Provider.Kind() != "kasa" || a.Provider.Account() != "home" || a.Authorize != nil || a.Login == nil {
		t.Fatalf("account = %+v", a)
	}
	_, err = a.Provider.ListDevices(ctxT(t))
	if !errors.Is(err, cloud.ErrLoginNeeded) || strings.Contains(err.Error(), "kasa2mqtt") {
		t.Fatalf("ListDevices without credentials: %v", err)
	}
	advised := Advise("kasa", "home", err)
	if !errors.Is(advised, cloud.ErrLoginNeeded) || !strings.HasSuffix(advised.Error(), "; run `kasa2mqtt login -account home`") {
		t.Errorf("Advise = %v", advised)
	}

	// The interactive login stores tokens the provider then uses.
	if !strings.Contains(a.Login.Prompt, `Kasa account "home"`) || !strings.Contains(a.Login.Prompt, user) {
		t.Errorf("prompt = %q", a.Login.Prompt)
	}
	if err := a.Login.Login(ctxT(t), password); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Inventory(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listed{
		{ID: plug, Name: "Lamp", Model: "HS103(US)", Online: true, Server: fake.URL(), Supported: true, Type: "IOT.SMARTPLUGSWITCH"},
		{ID: cam, Name: "Cam", Model: "C200", Online: true, Server: fake.URL(), Type: "SMART.IPCAMERA"},
	}
	byID := func(a, b Listed) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(inv, byID)
	slices.SortFunc(want, byID)
	if !slices.Equal(inv, want) {
		t.Errorf("inventory = %+v\nwant %+v", inv, want)
	}
}

func TestOpen_TuyaAccount(t *testing.T) {
	fake := tuyatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddProject(accessID, secret)
	plug := fake.AddPlug(accessID, "Heater", true)
	other := fake.AddUnsupported(accessID, "Kettle", "bh")
	dir := t.TempDir()
	d := Deps{StateDir: dir, HTTPClient: fake.Client(), Scale: map[string]map[string]int{plug: {"cur_power": 1}}}

	// Simple mode: no interactive capability; the inventory names the
	// endpoint and why a device is not bridged.
	simple := &tuya.Config{AccessID: accessID, AccessSecret: secret, Endpoint: fake.URL(), Auth: tuya.AuthSimple}
	a, err := Open("tuya", "garden", simple, d)
	if err != nil {
		t.Fatal(err)
	}
	if a.Provider.Kind() != "tuya" || a.Login != nil || a.Authorize != nil {
		t.Fatalf("account = %+v", a)
	}
	inv, err := a.Inventory(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Listed{}
	for _, l := range inv {
		byID[l.ID] = l
	}
	if l := byID[plug]; !l.Supported || l.Server != fake.URL() || l.Name != "Heater" {
		t.Errorf("plug = %+v", l)
	}
	if l := byID[other]; l.Supported || l.Type != "category bh" {
		t.Errorf("unsupported device = %+v", l)
	}

	// Code mode: authorisation by a person, and Advise says which command
	// until it is done.
	code := *simple
	code.Auth = tuya.AuthCode
	a, err = Open("tuya", "garden", &code, d)
	if err != nil {
		t.Fatal(err)
	}
	if a.Authorize == nil || a.Authorize.TokenPath == "" || !strings.Contains(a.Authorize.Instructions(""), accessID) {
		t.Fatalf("code-mode account = %+v", a)
	}
	_, err = a.Provider.ListDevices(ctxT(t))
	if got := Advise("tuya", "garden", err); !strings.HasSuffix(got.Error(), "; run `kasa2mqtt tuya-authorize -account garden`") {
		t.Errorf("Advise = %v", got)
	}
	if err := a.Authorize.Exchange(ctxT(t), fake.AuthorizeCode(accessID)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Provider.ListDevices(ctxT(t)); err != nil {
		t.Errorf("after the authorisation: %v", err)
	}
}

func TestAdvise_OnlyForLoginNeeded(t *testing.T) {
	for _, err := range []error{
		nil,
		cloud.ErrAuth, // a wrong password: the configuration must change
		cloud.ErrUnavailable,
		errors.New("anything"),
	} {
		if got := Advise("kasa", "home", err); got != err {
			t.Errorf("Advise(%v) = %v, want it unchanged", err, got)
		}
	}
	if got := Advise("hue", "x", cloud.ErrLoginNeeded); got != cloud.ErrLoginNeeded {
		t.Errorf("Advise for an unknown kind = %v", got)
	}
}
