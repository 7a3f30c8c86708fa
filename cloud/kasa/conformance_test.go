package kasa_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/cloudtest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// TestConformance runs the cloud.Provider contract against the fake Kasa
// cloud.
func TestConformance(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T) cloudtest.Cloud { return newKasaCloud(t) })
}

// TestConformanceV2 runs it against the fake V2 cloud: signed requests,
// regional server, rotating refresh tokens, nested errors.
func TestConformanceV2(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T) cloudtest.Cloud {
		srv := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
		t.Cleanup(srv.Close)
		srv.AddAccount(testUser, testPassword)
		t.Cleanup(func() {
			if n := srv.BadSignatures(); n != 0 {
				t.Errorf("%d requests with a bad signature", n)
			}
		})
		return &kasaCloud{Server: srv, dir: t.TempDir(), v2: &kasa.V2Options{
			AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey, RootCAs: caPool(t, srv)}}
	})
}

func newKasaCloud(t *testing.T) *kasaCloud {
	srv := kasatest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddAccount(testUser, testPassword)
	return &kasaCloud{Server: srv, dir: t.TempDir()}
}

// The suite catches providers that break the contract: each case wraps
// the Kasa provider so that it breaks one rule, and the check for that rule
// must report the symptom.
func TestConformance_CatchesViolations(t *testing.T) {
	tests := []struct {
		check, symptom string
		broken         broken
	}{
		{"ReadStates_OneStatePerID", "want one per id", broken{read: func(s []cloud.State) []cloud.State { return s[:len(s)-1] }}},
		{"ReadStates_FollowsTheDevice", "switched to", broken{read: func(s []cloud.State) []cloud.State {
			for i := range s {
				if s[i].Relay != nil {
					s[i].Relay = cloud.Bool(!*s[i].Relay)
				}
			}
			return s
		}}},
		{"Capabilities", "without declaring", broken{list: func(ds []cloud.Device) []cloud.Device {
			for i := range ds {
				ds[i].Capabilities = slices.DeleteFunc(slices.Clone(ds[i].Capabilities), func(c cloud.Capability) bool { return c == cloud.CapRSSI })
			}
			return ds
		}}},
		{"Energy", "went down", broken{read: forgetsEnergy()}},
		{"Capabilities", "without its Readings", broken{list: func(ds []cloud.Device) []cloud.Device {
			for i := range ds {
				ds[i].Readings = nil
			}
			return ds
		}}},
		{"Capabilities", "reports voltage", broken{list: func(ds []cloud.Device) []cloud.Device {
			for i := range ds {
				if ds[i].Has(cloud.CapEnergy) {
					ds[i].Readings = []cloud.Reading{cloud.ReadingPower, cloud.ReadingEnergy}
				}
			}
			return ds
		}}},
		{"Capabilities", "lists the reading energy but reports none", broken{read: func(s []cloud.State) []cloud.State {
			for i := range s {
				s[i].EnergyKWh = nil
			}
			return s
		}}},
		{"Lights", "read back", broken{read: func(s []cloud.State) []cloud.State {
			for i := range s {
				if l := s[i].Light; l != nil && l.Brightness != nil {
					l.Brightness = cloud.Float(*l.Brightness / 2)
				}
			}
			return s
		}}},
		{"Lights", "declares relay", broken{list: func(ds []cloud.Device) []cloud.Device {
			for i := range ds {
				if ds[i].Has(cloud.CapLight) {
					ds[i].Capabilities = append(slices.Clone(ds[i].Capabilities), cloud.CapRelay)
				}
			}
			return ds
		}}},
		{"Cancellation", "want an error wrapping context canceled", broken{err: func(err error) error { return errors.New(err.Error()) }}},
		{"RemovedDevice", "leaked", broken{err: func(err error) error { return fmt.Errorf("%w (as %s)", err, testPassword) }}},
	}
	for _, tc := range tests {
		t.Run(tc.check, func(t *testing.T) {
			found := cloudtest.Violations(t, func(t *testing.T) cloudtest.Cloud {
				return &brokenCloud{kasaCloud: newKasaCloud(t), broken: tc.broken}
			}, tc.check)
			if !slices.ContainsFunc(found[tc.check], func(f string) bool { return strings.Contains(f, tc.symptom) }) {
				t.Errorf("check %s found %q, want %q among them", tc.check, found[tc.check], tc.symptom)
			}
		})
	}
}

// forgetsEnergy returns a read edit that lowers each energy total by one
// kWh more than the one before.
func forgetsEnergy() func([]cloud.State) []cloud.State {
	var lost atomic.Int64
	return func(s []cloud.State) []cloud.State {
		for i := range s {
			if s[i].EnergyKWh != nil {
				s[i].EnergyKWh = cloud.Float(*s[i].EnergyKWh - float64(lost.Add(1)))
			}
		}
		return s
	}
}

// brokenCloud builds providers that break the contract as broken says.
type brokenCloud struct {
	*kasaCloud
	broken broken
}

func (b *brokenCloud) NewProvider(t *testing.T, o cloudtest.Options) cloud.Provider {
	bp := b.broken
	bp.Provider = b.kasaCloud.NewProvider(t, o)
	return &bp
}

// broken is a provider that edits what the real one returns: read edits
// states, list devices, err every error; nil fields edit nothing.
type broken struct {
	cloud.Provider
	read func([]cloud.State) []cloud.State
	list func([]cloud.Device) []cloud.Device
	err  func(error) error
}

func (b *broken) ListDevices(ctx context.Context) ([]cloud.Device, error) {
	ds, err := b.Provider.ListDevices(ctx)
	if b.list != nil {
		ds = b.list(ds)
	}
	return ds, b.edit(err)
}

func (b *broken) ReadStates(ctx context.Context, ids []string) ([]cloud.State, error) {
	s, err := b.Provider.ReadStates(ctx, ids)
	if b.read != nil && len(s) > 0 {
		s = b.read(s)
	}
	for i := range s {
		s[i].Err = b.edit(s[i].Err)
	}
	return s, b.edit(err)
}

func (b *broken) Apply(ctx context.Context, cmd cloud.Command) error {
	return b.edit(b.Provider.Apply(ctx, cmd))
}

func (b *broken) edit(err error) error {
	if err == nil || b.err == nil {
		return err
	}
	return b.err(err)
}

// kasaCloud is the fake Kasa cloud as a cloudtest.Cloud: one account,
// plain plugs HS103, metered plugs HS110 (first emeter generation), strips
// KP303.
type kasaCloud struct {
	*kasatest.Server
	dir string
	v2  *kasa.V2Options // nil: api v1
}

func (k *kasaCloud) NewProvider(t *testing.T, o cloudtest.Options) cloud.Provider {
	t.Helper()
	dir := cmp.Or(o.StateDir, k.dir)
	energy, err := cloud.OpenEnergyMeter(filepath.Join(dir, "energy.json"))
	if err != nil {
		t.Fatal(err)
	}
	opts := kasa.Options{
		Account: "home", Username: testUser, Password: testPassword,
		URL: k.URL(), StateDir: dir, HTTPClient: k.Client(), Energy: energy,
		Logger: o.Logger, Observer: o.Observer, RequestTimeout: o.RequestTimeout,
	}
	if k.v2 != nil {
		opts.API, opts.V2 = kasa.APIV2, *k.v2
	}
	p, err := kasa.New(opts)
	if err != nil {
		t.Fatalf("kasa.New: %v", err)
	}
	return p
}

func (k *kasaCloud) AddPlug(name string) string { return k.Server.AddPlug(testUser, name, "HS103(US)") }

func (k *kasaCloud) AddMeteredPlug(name string) string {
	return k.Server.AddMeteredPlug(testUser, name, "HS110(EU)", false)
}

func (k *kasaCloud) AddStrip(name string, outlets int) (string, []string) {
	return k.Server.AddStrip(testUser, name, "KP303(US)", outlets, false)
}

func (k *kasaCloud) Remove(id string) { k.RemoveDevice(id) }

func (k *kasaCloud) ResetEnergyCounter(id string) { k.RebootEnergy(id) }

func (k *kasaCloud) RevokeCredentials() {
	k.SetPassword(testUser, "changed "+testPassword)
	k.ExpireTokens()
	k.ExpireRefreshTokens()
}

func (k *kasaCloud) Secrets() []string {
	return append(k.Server.Secrets(), testPassword, kasatest.TestSecretKey)
}

// AddLight adds an HS220 dimmer, a KL130 colour bulb, a KL120(US)
// tunable-white bulb or a KL50 dimmable bulb.
func (k *kasaCloud) AddLight(name string, kind cloudtest.LightKind) string {
	switch kind {
	case cloudtest.LightDimmer:
		return k.AddDimmer(testUser, name, "HS220(US)")
	case cloudtest.LightColor:
		return k.AddBulb(testUser, name, "KL130(US)", true, true)
	case cloudtest.LightWhite:
		return k.AddBulb(testUser, name, "KL120(US)", false, true)
	case cloudtest.LightDimmable:
		return k.AddBulb(testUser, name, "KL50(US)", false, false)
	}
	return ""
}

func (k *kasaCloud) Light(id string) cloud.LightState {
	li := k.Server.Light(id)
	s := cloud.LightState{On: li.On, Brightness: cloud.Float(float64(li.Brightness))}
	if li.ColorTemp > 0 {
		s.Mode, s.ColorTempK = cloud.ColorModeTemp, cloud.Int(li.ColorTemp)
	} else {
		s.Mode, s.Hue, s.Saturation = cloud.ColorModeHS, cloud.Float(float64(li.Hue)), cloud.Float(float64(li.Saturation))
	}
	return s
}
