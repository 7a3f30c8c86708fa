package tuyatest

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// voltage is what every metered plug measures.
const voltage = 230.0

// device is one simulated device.
type device struct {
	id          string
	project     string
	name        string
	category    string
	productID   string
	productName string
	localKey    string
	online      bool
	codes       []string        // switch codes in order
	switches    map[string]bool // switch code -> on
	metered     bool
	lacks       map[string]bool // metering codes the product does not have
	load        float64         // W while on
	pendingKWh  float64         // energy not yet reported
	trueScale   map[string]int
	specScale   map[string]int
	light       *light // nil unless a light (AddLight)
	// otherUser: the device belongs to a second app account linked to the
	// project (SetOtherUser).
	otherUser bool
}

func (s *Server) newDevice(accessID, name, category, productName string, codes []string) *device {
	s.mustProject(accessID)
	id := ""
	for n := 0; ; n++ {
		seed := fmt.Sprintf("device/%s/%s#%d", accessID, name, n)
		id = "bf" + hash(seed)[:18]
		if s.devices[id] == nil {
			break
		}
	}
	d := &device{
		id:          id,
		project:     accessID,
		name:        name,
		category:    category,
		productName: productName,
		productID:   productID(category, productName),
		localKey:    hash("localkey/" + id)[:16],
		online:      true,
		codes:       codes,
		switches:    map[string]bool{},
		trueScale:   map[string]int{"cur_power": 1, "cur_voltage": 1, "cur_current": 0, "add_ele": 3},
		specScale:   map[string]int{},
	}
	for _, c := range codes {
		d.switches[c] = false
	}
	s.devices[id] = d
	s.order = append(s.order, id)
	s.publishEvent(d, "bindUser", "deviceBindUser", nil)
	return d
}

// anyOn reports whether a switch is on.
func (d *device) anyOn() bool {
	for _, on := range d.switches {
		if on {
			return true
		}
	}
	return false
}

// power is the present draw in W.
func (d *device) power() float64 {
	if !d.metered || !d.anyOn() {
		return 0
	}
	return d.load
}

func (d *device) encode(code string, v float64) int64 {
	return int64(math.Round(v * math.Pow10(d.trueScale[code])))
}

type dpValue struct {
	Code  string `json:"code"`
	Value any    `json:"value"`
}

// status returns the device's data points. With consume, add_ele reports
// (and clears) the energy since the previous read, in whole units of
// 10^-scale kWh, keeping the remainder; without, it reports 0.
func (d *device) status(consume bool) []dpValue {
	var out []dpValue
	for _, c := range d.codes {
		out = append(out, dpValue{c, d.switches[c]})
		if n, ok := strings.CutPrefix(c, "switch_"); ok {
			out = append(out, dpValue{"countdown_" + n, 0})
		}
	}
	if d.category == "cz" {
		out = append(out, dpValue{"relay_status", "last"})
	}
	if d.light != nil {
		out = append(out, d.light.status()...)
	}
	if !d.metered {
		return out
	}
	var ele int64
	if consume {
		ele = d.takeEnergy()
	}
	out = append(out, d.has(dpValue{"add_ele", ele})...)
	return append(out, d.meter()...)
}

// has returns the values among vals of codes the device has.
func (d *device) has(vals ...dpValue) []dpValue {
	var out []dpValue
	for _, v := range vals {
		if !d.lacks[v.Code] {
			out = append(out, v)
		}
	}
	return out
}

// takeEnergy returns (and clears) the energy not reported yet, in whole
// units of 10^-scale kWh, keeping the remainder.
func (d *device) takeEnergy() int64 {
	unit := math.Pow10(-d.trueScale["add_ele"])
	ele := int64(math.Floor(d.pendingKWh/unit + 1e-9))
	d.pendingKWh = math.Max(0, d.pendingKWh-float64(ele)*unit)
	return ele
}

// meter returns the instantaneous readings of a metered plug (nil for
// others).
func (d *device) meter() []dpValue {
	if !d.metered {
		return nil
	}
	p := d.power()
	return d.has(
		dpValue{"cur_current", d.encode("cur_current", p/voltage*1000)},
		dpValue{"cur_power", d.encode("cur_power", p)},
		dpValue{"cur_voltage", d.encode("cur_voltage", voltage)},
	)
}

type specItem struct {
	Code   string `json:"code"`
	Type   string `json:"type"`
	Values string `json:"values"`
}

func intValues(unit string, max, scale, step int) string {
	b, _ := json.Marshal(map[string]any{"unit": unit, "min": 0, "max": max, "scale": scale, "step": step})
	return string(b)
}

// specification returns {category, functions, status} as the cloud does,
// with each values a JSON string.
func (d *device) specification() map[string]any {
	scale := func(code string) int {
		if s, ok := d.specScale[code]; ok {
			return s
		}
		return d.trueScale[code]
	}
	var functions, status []specItem
	for _, c := range d.codes {
		item := specItem{c, "Boolean", "{}"}
		functions = append(functions, item)
		status = append(status, item)
		if n, ok := strings.CutPrefix(c, "switch_"); ok {
			cd := specItem{"countdown_" + n, "Integer", intValues("s", 86400, 0, 1)}
			functions = append(functions, cd)
			status = append(status, cd)
		}
	}
	if d.category == "cz" {
		rs := specItem{"relay_status", "Enum", `{"range":["power_off","power_on","last"]}`}
		functions = append(functions, rs)
		status = append(status, rs)
	}
	if d.light != nil {
		for _, p := range d.light.dps {
			item := specItem{p.code, p.typ, p.specValues()}
			functions = append(functions, item)
			status = append(status, item)
		}
	}
	if d.metered {
		for _, item := range []specItem{
			{"add_ele", "Integer", intValues("kwh", 50000, scale("add_ele"), 100)},
			{"cur_current", "Integer", intValues("mA", 30000, scale("cur_current"), 1)},
			{"cur_power", "Integer", intValues("W", 50000, scale("cur_power"), 1)},
			{"cur_voltage", "Integer", intValues("V", 5000, scale("cur_voltage"), 1)},
		} {
			if !d.lacks[item.Code] {
				status = append(status, item)
			}
		}
	}
	return map[string]any{"category": d.category, "functions": functions, "status": status}
}

// listRow is the device as the device lists show it.
func (d *device) listRow(uid string) map[string]any {
	return map[string]any{
		"id":           d.id,
		"name":         d.name,
		"uid":          uid,
		"local_key":    d.localKey,
		"category":     d.category,
		"product_id":   d.productID,
		"product_name": d.productName,
		"model":        "",
		"online":       d.online,
		"sub":          false,
		"icon":         "smart/icon/" + d.category + ".png",
		"ip":           "203.0.113.7",
		"time_zone":    "+01:00",
		"active_time":  1700000000,
		"create_time":  1700000000,
		"update_time":  1700000000,
		"uuid":         d.id[2:],
		"status":       d.status(false),
	}
}

// command validates and applies one data point command; it returns the
// envelope code to answer (0: accepted).
func (d *device) command(code string, raw json.RawMessage) int {
	if _, ok := d.switches[code]; ok {
		var on bool
		if err := json.Unmarshal(raw, &on); err != nil {
			return codeCommandNotSupp
		}
		d.switches[code] = on
		return 0
	}
	if d.light != nil {
		if p, ok := d.light.dp(code); ok {
			v, errCode := p.check(raw)
			if errCode == 0 {
				d.light.values[code] = v
			}
			return errCode
		}
	}
	if strings.HasPrefix(code, "countdown_") {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil || n < 0 || n > 86400 || n != math.Trunc(n) {
			return codeCommandNotSupp
		}
		if _, ok := d.switches["switch_"+strings.TrimPrefix(code, "countdown_")]; ok {
			return 0
		}
	}
	return codeCommandNotSupp
}
