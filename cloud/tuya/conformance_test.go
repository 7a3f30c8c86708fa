package tuya_test

import (
	"cmp"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/cloudtest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

// TestConformance runs the cloud.Provider contract against the fake Tuya
// cloud project, its lights with the v2 codes.
func TestConformance(t *testing.T) {
	cloudtest.Run(t, tuyaFixture(false))
}

// TestConformance_V1Lights runs the light part of the contract against
// lights with the v1 codes (bright_value 25–255, temp_value, colour_data
// with s and v 0–255) and a two-channel dimmer switch (tgkg).
func TestConformance_V1Lights(t *testing.T) {
	for check, failures := range cloudtest.Violations(t, tuyaFixture(true), "Lights") {
		for _, f := range failures {
			t.Errorf("%s: %s", check, f)
		}
	}
}

func tuyaFixture(v1 bool) cloudtest.Fixture {
	return func(t *testing.T) cloudtest.Cloud {
		srv := tuyatest.NewServer()
		t.Cleanup(srv.Close)
		srv.AddProject(testAccessID, testSecret)
		return &tuyaCloud{Server: srv, dir: t.TempDir(), v1: v1}
	}
}

// tuyaCloud is the fake Tuya cloud as a cloudtest.Cloud and
// cloudtest.LightCloud: one project in simple mode, plugs (category cz,
// switch_1, metered or not), strips (category pc, switch_1..n, no master
// switch) and lights: dj bulbs with the v2 codes and a tgq dimmer, or
// with v1 a dj bulbs with the v1 codes and the first channel of a tgkg
// dimmer switch.
type tuyaCloud struct {
	*tuyatest.Server
	dir string
	v1  bool
}

var _ cloudtest.LightCloud = (*tuyaCloud)(nil)

func (c *tuyaCloud) AddLight(name string, kind cloudtest.LightKind) string {
	kinds := map[cloudtest.LightKind][2]tuyatest.LightKind{
		cloudtest.LightColor:    {tuyatest.ColourLight, tuyatest.ColourLightV1},
		cloudtest.LightWhite:    {tuyatest.WhiteLight, tuyatest.WhiteLightV1},
		cloudtest.LightDimmable: {tuyatest.DimmableLight, tuyatest.DimmableLightV1},
		cloudtest.LightDimmer:   {tuyatest.Dimmer, tuyatest.DimmerSwitch},
	}
	k, ok := kinds[kind]
	if !ok {
		return ""
	}
	if c.v1 {
		id := c.Server.AddLight(testAccessID, name, k[1])
		if kind == cloudtest.LightDimmer {
			return id + "_switch_led_1"
		}
		return id
	}
	return c.Server.AddLight(testAccessID, name, k[0])
}

// Light converts the fake's view of the light into package cloud's terms.
func (c *tuyaCloud) Light(id string) cloud.LightState {
	v := c.Server.Light(id)
	st := cloud.LightState{On: v.On, Brightness: cloud.Float(v.Brightness)}
	switch {
	case v.Colour:
		st.Mode, st.Hue, st.Saturation = cloud.ColorModeHS, cloud.Float(v.Hue), cloud.Float(v.Saturation)
	case v.Kelvin > 0:
		st.Mode, st.ColorTempK = cloud.ColorModeTemp, cloud.Int(v.Kelvin)
	}
	return st
}

func (c *tuyaCloud) NewProvider(t *testing.T, o cloudtest.Options) cloud.Provider {
	t.Helper()
	dir := cmp.Or(o.StateDir, c.dir)
	energy, err := cloud.OpenEnergyMeter(filepath.Join(dir, "energy.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tuya.New(tuya.Options{
		Account: "home", AccessID: testAccessID, AccessSecret: testSecret,
		Endpoint: c.URL(), Region: "eu", StateDir: dir, HTTPClient: c.Client(), Energy: energy,
		Logger: o.Logger, Observer: o.Observer, RequestTimeout: o.RequestTimeout,
	})
	if err != nil {
		t.Fatalf("tuya.New: %v", err)
	}
	return p
}

func (c *tuyaCloud) AddPlug(name string) string { return c.Server.AddPlug(testAccessID, name, false) }

func (c *tuyaCloud) AddMeteredPlug(name string) string {
	return c.Server.AddPlug(testAccessID, name, true)
}

func (c *tuyaCloud) AddStrip(name string, outlets int) (string, []string) {
	return c.Server.AddStrip(testAccessID, name, outlets)
}

func (c *tuyaCloud) Remove(id string) { c.RemoveDevice(id) }

// switchOf maps a Device.ID to the cloud device and its switch code: an
// outlet is "<strip id>_<code>", a plug drives switch_1.
func switchOf(id string) (string, string) {
	if dev, code, ok := strings.Cut(id, "_"); ok {
		return dev, code
	}
	return id, "switch_1"
}

func (c *tuyaCloud) SetRelay(id string, on bool) {
	dev, code := switchOf(id)
	c.SetSwitch(dev, code, on)
}

func (c *tuyaCloud) Relay(id string) bool { return c.Switch(switchOf(id)) }

func (c *tuyaCloud) SetOnline(id string, online bool) {
	dev, _ := switchOf(id)
	c.Server.SetOnline(dev, online)
}

// ResetEnergyCounter does nothing: Tuya reports energy as deltas (add_ele),
// there is no device counter to reset.
func (c *tuyaCloud) ResetEnergyCounter(string) {}

func (c *tuyaCloud) RevokeCredentials() { c.AddProject(testAccessID, "rotated"+testSecret) }

func (c *tuyaCloud) Secrets() []string { return append(c.Server.Secrets(), testSecret) }
