package cloudtest

import (
	"regexp"
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// home is the account most checks use: a plug, a metered plug and a strip
// with two outlets, and a provider that has not called the cloud yet.
type home struct {
	p       cloud.Provider
	plug    string
	meter   string
	strip   string
	outlets []string
}

// ids returns every device of the home, strip and outlets included.
func (h home) ids() []string {
	return append([]string{h.plug, h.meter, h.strip}, h.outlets...)
}

func (c *check) home() home {
	c.Helper()
	h := home{
		plug:  c.cloud.AddPlug("Desk Lamp"),
		meter: c.cloud.AddMeteredPlug("Kettle"),
	}
	h.strip, h.outlets = c.cloud.AddStrip("Media Strip", 2)
	if len(h.outlets) != 2 {
		c.Fatalf("AddStrip returned %d outlets, want 2", len(h.outlets))
	}
	h.p = c.provider(Options{})
	return h
}

var (
	knownCaps = []cloud.Capability{cloud.CapRelay, cloud.CapEnergy, cloud.CapRSSI, cloud.CapLED, cloud.CapReboot,
		cloud.CapLight, cloud.CapBrightness, cloud.CapColorTemp, cloud.CapColor, cloud.CapTransition}
	macRE = regexp.MustCompile(`^([0-9A-F]{2}:){5}[0-9A-F]{2}$`)
)

func checkList(c *check) {
	h := c.home()
	devs := c.list(h.p)
	if c.obs.login("login") == 0 {
		c.Error("the first ListDevices of a new session reported no login to the Observer")
	}
	for _, id := range h.ids() {
		if _, ok := devs[id]; !ok {
			c.Fatalf("device %q not listed (listed: %v)", id, keys(devs))
		}
	}
	for _, d := range devs {
		c.validDevice(h.p, d, devs)
	}
	wantCaps := func(id string, want ...cloud.Capability) {
		for _, cp := range want {
			if !devs[id].Has(cp) {
				c.Errorf("device %s (%s) lacks %s: has %v", id, devs[id].Name, cp, devs[id].Capabilities)
			}
		}
	}
	wantCaps(h.plug, cloud.CapRelay)
	if devs[h.plug].Has(cloud.CapEnergy) {
		c.Errorf("plug without a meter declares %s", cloud.CapEnergy)
	}
	wantCaps(h.meter, cloud.CapRelay, cloud.CapEnergy)
	for _, o := range h.outlets {
		wantCaps(o, cloud.CapRelay)
		if devs[o].ParentID != h.strip {
			c.Errorf("outlet %s has ParentID %q, want the strip %q", o, devs[o].ParentID, h.strip)
		}
	}
	for _, id := range []string{h.plug, h.meter, h.strip} {
		if devs[id].ParentID != "" {
			c.Errorf("device %s has ParentID %q, want none", id, devs[id].ParentID)
		}
	}
	again := c.list(h.p)
	if a, b := keys(devs), keys(again); !slices.Equal(a, b) {
		c.Errorf("a second ListDevices lists %v, the first %v", b, a)
	}
}

// validDevice checks the fields of one listed device.
func (c *check) validDevice(p cloud.Provider, d cloud.Device, all map[string]cloud.Device) {
	c.Helper()
	if d.ID == "" || d.Provider != p.Kind() || d.Account != p.Account() {
		c.Errorf("device %+v: want a non-empty ID, Provider %q and Account %q", d, p.Kind(), p.Account())
	}
	if d.Name == "" || text.Printable(d.Name) != d.Name {
		c.Errorf("device %s: Name %q is empty or not printable", d.ID, d.Name)
	}
	if d.MAC != "" && !macRE.MatchString(d.MAC) {
		c.Errorf("device %s: MAC %q is not colon-separated upper-case hex", d.ID, d.MAC)
	}
	seen := map[cloud.Capability]bool{}
	for _, cp := range d.Capabilities {
		if !slices.Contains(knownCaps, cp) || seen[cp] {
			c.Errorf("device %s: capability %q unknown or repeated in %v", d.ID, cp, d.Capabilities)
		}
		seen[cp] = true
		if isLightCap(cp) && !d.Has(cloud.CapLight) {
			c.Errorf("device %s: capability %q without %q", d.ID, cp, cloud.CapLight)
		}
	}
	if d.Has(cloud.CapLight) && d.Has(cloud.CapRelay) {
		c.Errorf("device %s declares both %q and %q: a light's on/off is its light state", d.ID, cloud.CapLight, cloud.CapRelay)
	}
	if d.ParentID != "" {
		parent, ok := all[d.ParentID]
		if !ok || parent.ParentID != "" || d.ParentID == d.ID {
			c.Errorf("device %s: ParentID %q is not a listed strip", d.ID, d.ParentID)
		}
	}
	if !d.Online {
		c.Errorf("device %s is listed offline, but the cloud reaches it", d.ID)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
