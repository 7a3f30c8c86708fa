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
// cloud project.
func TestConformance(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T) cloudtest.Cloud {
		srv := tuyatest.NewServer()
		t.Cleanup(srv.Close)
		srv.AddProject(testAccessID, testSecret)
		return &tuyaCloud{Server: srv, dir: t.TempDir()}
	})
}

// tuyaCloud is the fake Tuya cloud as a cloudtest.Cloud: one project in
// simple mode, plugs (category cz, switch_1, metered or not) and strips
// (category pc, switch_1..n, no master switch).
type tuyaCloud struct {
	*tuyatest.Server
	dir string
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
