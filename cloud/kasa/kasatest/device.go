package kasatest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"
)

// device is one simulated device (or, with raw set, a list row only).
type device struct {
	id, owner    string
	alias        string
	aliasBase64  bool // the list reports the alias base64-encoded
	model        string
	devName      string
	hwVer, swVer string
	deviceType   string
	appServerURL string // "" = the server's URL
	online       bool
	raw          map[string]any // AddRawDevice: the list row, not simulated

	relay   bool
	ledOff  bool
	rssi    int
	onTime  time.Duration
	reboots int

	metered bool
	newGen  bool    // power_mw/voltage_mv/current_ma/total_wh
	voltage float64 // volts
	loadW   float64 // draw while the relay is on
	total   float64 // kWh since the last counter reset

	outlets []*outlet

	light *lightSim // dimmers, bulbs and light strips (light.go)
}

type outlet struct {
	id     string
	alias  string
	on     bool
	onTime time.Duration
	loadW  float64
	total  float64
}

func (d *device) strip() bool { return len(d.outlets) > 0 }

func (d *device) mac() string {
	return "50C7BF" + d.id[len(d.id)-6:]
}

func (d *device) macColon() string {
	m := d.mac()
	parts := make([]string, 0, 6)
	for i := 0; i < 12; i += 2 {
		parts = append(parts, m[i:i+2])
	}
	return strings.Join(parts, ":")
}

func (d *device) feature() string {
	if d.metered {
		return "TIM:ENE"
	}
	return "TIM"
}

func (d *device) outlet(id string) *outlet {
	for _, o := range d.outlets {
		if o.id == id {
			return o
		}
	}
	return nil
}

func hexOf(seed string, n int) string {
	sum := sha1.Sum([]byte(seed))
	return strings.ToUpper(hex.EncodeToString(sum[:]))[:n]
}

// voltageFor guesses the mains voltage from the model's region suffix.
func voltageFor(model string) float64 {
	switch {
	case strings.HasSuffix(model, "(US)"), strings.HasSuffix(model, "(CA)"):
		return 120.4
	case strings.HasSuffix(model, "(JP)"):
		return 100.2
	}
	return 230.6
}

func region(model string) string {
	if strings.HasSuffix(model, "(US)") || strings.HasSuffix(model, "(CA)") {
		return "us-east-1"
	}
	return "eu-west-1"
}

func (s *Server) addDevice(user string, d *device) {
	s.mustAccount(user)
	d.owner = strings.ToLower(user)
	s.devices[d.id] = d
	s.order = append(s.order, d.id)
}

// AddPlug adds a plain smart plug (e.g. "HS103(US)"): relay, LED, RSSI, no
// energy meter. It returns the device id.
func (s *Server) AddPlug(user, alias, model string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &device{
		id: s.idFor(alias), alias: alias, model: model,
		devName: "Smart Wi-Fi Plug Lite", hwVer: "5.0", swVer: "1.0.12 Build 210329 Rel.141126",
		deviceType: "IOT.SMARTPLUGSWITCH", online: true, rssi: -52,
	}
	s.addDevice(user, d)
	return d.id
}

// AddMeteredPlug adds a plug with an energy meter. Old-generation firmware
// (newGen false, e.g. "HS110(EU)") reports power, voltage, current and
// total in W, V, A and kWh; new-generation firmware (e.g. "KP115(US)")
// reports power_mw, voltage_mv, current_ma and total_wh. The load starts at
// 0 W (see SetPower) and the relay off.
func (s *Server) AddMeteredPlug(user, alias, model string, newGen bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &device{
		id: s.idFor(alias), alias: alias, model: model,
		devName: "Wi-Fi Smart Plug With Energy Monitoring", hwVer: "1.0", swVer: "1.2.5 Build 171213 Rel.101523",
		deviceType: "IOT.SMARTPLUGSWITCH", online: true, rssi: -61,
		metered: true, newGen: newGen, voltage: voltageFor(model),
	}
	if newGen {
		d.devName, d.hwVer, d.swVer = "Smart Wi-Fi Plug Mini", "1.0", "1.0.16 Build 210205 Rel.163735"
	}
	s.addDevice(user, d)
	return d.id
}

// AddStrip adds a power strip with the given number of outlets (e.g.
// "HS300(US)" with 6 metered outlets, "KP303(US)" with 3 unmetered). Outlet
// ids are the strip id followed by "00", "01", …; outlets are named
// "Plug 1", "Plug 2", … and start off. Metered strips report the new
// emeter generation, per outlet only.
func (s *Server) AddStrip(user, alias, model string, outlets int, metered bool) (string, []string) {
	if outlets < 1 || outlets > 99 {
		panic(fmt.Sprintf("kasatest: strip with %d outlets", outlets))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &device{
		id: s.idFor(alias), alias: alias, model: model,
		devName: "Smart Wi-Fi Power Strip", hwVer: "2.0", swVer: "1.0.12 Build 220121 Rel.175814",
		deviceType: "IOT.SMARTPLUGSWITCH", online: true, rssi: -47,
		metered: metered, newGen: true, voltage: voltageFor(model),
	}
	ids := make([]string, outlets)
	for i := range outlets {
		ids[i] = fmt.Sprintf("%s%02d", d.id, i)
		d.outlets = append(d.outlets, &outlet{id: ids[i], alias: fmt.Sprintf("Plug %d", i+1)})
	}
	s.addDevice(user, d)
	return d.id, ids
}

// AddRawDevice adds an arbitrary getDeviceList row (e.g. a SMART.TAPOPLUG
// or a row with odd fields). The row is listed as given (deviceId is
// derived from "alias" when missing, status defaults to 1) and is not
// simulated: passthrough to it answers -20571. It returns the device id.
func (s *Server) AddRawDevice(user string, entry map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	row := maps.Clone(entry)
	id, _ := row["deviceId"].(string)
	if id == "" {
		alias, _ := row["alias"].(string)
		id = s.idFor("raw/" + alias)
		row["deviceId"] = id
	}
	if _, ok := row["status"]; !ok {
		row["status"] = 1
	}
	status, _ := row["status"].(int)
	d := &device{id: id, raw: row, online: status == 1}
	s.addDevice(user, d)
	return id
}

// lookup finds a device, or the strip of an outlet id.
func (s *Server) lookup(id string) (*device, *outlet) {
	if d := s.devices[id]; d != nil {
		return d, nil
	}
	for _, d := range s.devices {
		if o := d.outlet(id); o != nil {
			return d, o
		}
	}
	return nil, nil
}

func (s *Server) mustLookup(id string) (*device, *outlet) {
	d, o := s.lookup(id)
	if d == nil {
		panic(fmt.Sprintf("kasatest: unknown device %q", id))
	}
	return d, o
}

func (s *Server) mustPhysical(id string) *device {
	d := s.devices[id]
	if d == nil {
		panic(fmt.Sprintf("kasatest: unknown device %q (outlet ids are not accepted here)", id))
	}
	return d
}

// RemoveDevice removes a device (with its outlets) from the account.
func (s *Server) RemoveDevice(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPhysical(id)
	delete(s.devices, id)
	s.order = removeString(s.order, id)
}

func removeString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// SetOnline sets whether the cloud sees the device: the list status (1/0)
// and, when offline, -20571 for every passthrough.
func (s *Server) SetOnline(id string, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustPhysical(id)
	d.online = online
	if d.raw != nil {
		d.raw["status"] = map[bool]int{true: 1, false: 0}[online]
	}
}

// Rename sets the alias of a device or outlet, as if renamed in the app.
func (s *Server) Rename(id, alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	switch {
	case o != nil:
		o.alias = alias
	case d.raw != nil:
		d.raw["alias"] = alias
	default:
		d.alias = alias
	}
}

// Alias returns the alias of a device or outlet.
func (s *Server) Alias(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	if o != nil {
		return o.alias
	}
	if d.raw != nil {
		a, _ := d.raw["alias"].(string)
		return a
	}
	return d.alias
}

// EncodeAliasBase64 makes the device list report the device's alias
// base64-encoded, as some accounts do.
func (s *Server) EncodeAliasBase64(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPhysical(id).aliasBase64 = on
}

// SetRelay switches a plug or outlet as if from the app.
func (s *Server) SetRelay(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	switch {
	case o != nil:
		o.setOn(on)
	case d.strip():
		for _, o := range d.outlets {
			o.setOn(on)
		}
	case d.isBulb():
		d.light.on = on
	default:
		d.setRelay(on)
	}
}

// Relay reports the relay of a plug or outlet (a strip: any outlet on).
func (s *Server) Relay(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	if o != nil {
		return o.on
	}
	if d.strip() {
		for _, o := range d.outlets {
			if o.on {
				return true
			}
		}
		return false
	}
	if d.isBulb() {
		return d.light.on
	}
	return d.relay
}

// LED reports whether the status LED is lit (outlets: the strip's LED).
func (s *Server) LED(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := s.mustLookup(id)
	return !d.ledOff
}

// Reboots returns how many reboot commands the device received.
func (s *Server) Reboots(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := s.mustLookup(id)
	return d.reboots
}

// RebootEnergy resets the energy counter to 0, as a device reboot does:
// of a plug, of one outlet, or of every outlet of a strip.
func (s *Server) RebootEnergy(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	switch {
	case o != nil:
		o.total = 0
	case d.strip():
		for _, o := range d.outlets {
			o.total = 0
		}
	default:
		d.total = 0
	}
}

// SetAppServerURL overrides the appServerUrl the list reports for a device
// (the default is the server's own URL).
func (s *Server) SetAppServerURL(id, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustPhysical(id)
	if d.raw != nil {
		d.raw["appServerUrl"] = url
		return
	}
	d.appServerURL = url
}

// SetPower sets the load of a metered plug or outlet in watts: what it
// draws while its relay is on (it reports 0 W while off); of a bulb or
// light strip, what it draws at full brightness.
func (s *Server) SetPower(id string, watts float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	if d.isBulb() {
		d.light.watts = watts
		return
	}
	if !d.metered || (o == nil && d.strip()) {
		panic(fmt.Sprintf("kasatest: %q has no energy meter of its own", id))
	}
	if o != nil {
		o.loadW = watts
		return
	}
	d.loadW = watts
}

// SetEnergyTotal sets the device counter (kWh) of a metered plug or outlet.
func (s *Server) SetEnergyTotal(id string, kWh float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, o := s.mustLookup(id)
	if o != nil {
		o.total = kWh
		return
	}
	d.total = kWh
}

// Tick advances simulated time by dt: relays accumulate on_time, and
// metered plugs and outlets that are on accumulate energy at their load.
func (s *Server) Tick(dt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hours := dt.Hours()
	for _, d := range s.devices {
		if l := d.light; d.isBulb() && l.on {
			l.totalWh += l.watts * float64(l.brightness) / 100 * hours
		}
		if d.relay {
			d.onTime += dt
			if d.metered {
				d.total += d.loadW * hours / 1000
			}
		}
		for _, o := range d.outlets {
			if o.on {
				o.onTime += dt
				if d.metered {
					o.total += o.loadW * hours / 1000
				}
			}
		}
	}
}

func (d *device) setRelay(on bool) {
	if on != d.relay {
		d.onTime = 0
	}
	d.relay = on
}

func (o *outlet) setOn(on bool) {
	if on != o.on {
		o.onTime = 0
	}
	o.on = on
}

// listRow renders the device's getDeviceList row.
func (s *Server) listRow(d *device) map[string]any {
	if d.raw != nil {
		return maps.Clone(d.raw)
	}
	alias := d.alias
	if d.aliasBase64 {
		alias = base64.StdEncoding.EncodeToString([]byte(alias))
	}
	appURL := d.appServerURL
	if appURL == "" {
		appURL = s.RegionURL()
	}
	status := 0
	if d.online {
		status = 1
	}
	return map[string]any{
		"deviceType":   d.deviceType,
		"role":         0,
		"fwVer":        d.swVer,
		"appServerUrl": appURL,
		"deviceRegion": region(d.model),
		"deviceId":     d.id,
		"deviceName":   d.devName,
		"deviceHwVer":  d.hwVer,
		"alias":        alias,
		"deviceMac":    d.mac(),
		"oemId":        hexOf("oem/"+d.model, 32),
		"deviceModel":  d.model,
		"hwId":         hexOf("hw/"+d.model, 32),
		"fwId":         strings.Repeat("0", 32),
		"isSameRegion": true,
		"status":       status,
	}
}

// sysinfo renders system.get_sysinfo.
func (d *device) sysinfo() map[string]any {
	if d.isBulb() {
		return d.bulbSysinfo()
	}
	m := map[string]any{
		"sw_ver":      d.swVer,
		"hw_ver":      d.hwVer,
		"model":       d.model,
		"deviceId":    d.id,
		"oemId":       hexOf("oem/"+d.model, 32),
		"hwId":        hexOf("hw/"+d.model, 32),
		"rssi":        d.rssi,
		"latitude_i":  525200,
		"longitude_i": 134050,
		"alias":       d.alias,
		"status":      "new",
		"obd_src":     "tplink",
		"mic_type":    "IOT.SMARTPLUGSWITCH",
		"feature":     d.feature(),
		"mac":         d.macColon(),
		"updating":    0,
		"led_off":     bit(d.ledOff),
		"ntc_state":   0,
		"err_code":    0,
	}
	if d.strip() {
		children := make([]map[string]any, len(d.outlets))
		for i, o := range d.outlets {
			children[i] = map[string]any{
				"id":          o.id,
				"state":       bit(o.on),
				"alias":       o.alias,
				"on_time":     int(o.onTime.Seconds()),
				"next_action": map[string]any{"type": -1},
			}
		}
		m["children"] = children
		m["child_num"] = len(d.outlets)
		return m
	}
	m["dev_name"] = d.devName
	m["icon_hash"] = ""
	m["relay_state"] = bit(d.relay)
	m["on_time"] = int(d.onTime.Seconds())
	m["active_mode"] = "none"
	m["next_action"] = map[string]any{"type": -1}
	if d.light != nil { // a dimmer
		m["brightness"] = d.light.brightness
		m["preferred_state"] = []map[string]any{{"index": 0, "brightness": 100}, {"index": 1, "brightness": 75},
			{"index": 2, "brightness": 50}, {"index": 3, "brightness": 25}}
	}
	return m
}

// realtime renders emeter.get_realtime for a load and counter.
func (d *device) realtime(on bool, loadW, totalKWh float64) map[string]any {
	power := 0.0
	if on {
		power = loadW
	}
	current := power / d.voltage
	if d.newGen {
		return map[string]any{
			"voltage_mv": int(math.Round(d.voltage * 1000)),
			"current_ma": int(math.Round(current * 1000)),
			"power_mw":   int(math.Round(power * 1000)),
			"total_wh":   int(math.Floor(totalKWh * 1000)),
			"err_code":   0,
		}
	}
	return map[string]any{
		"voltage":  round(d.voltage, 6),
		"current":  round(current, 6),
		"power":    round(power, 6),
		"total":    round(totalKWh, 3),
		"err_code": 0,
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}
