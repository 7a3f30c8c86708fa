package tuya

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// supportedCategories are the Tuya categories bridged: kg (switch), cz
// (socket) and pc (power strip), and the light categories (see
// lightCategories): dj (light), tgq (dimmer), tgkg (dimmer switch) and
// hxd (wake-up light).
var supportedCategories = []string{"kg", "cz", "pc", "dj", "tgq", "tgkg", "hxd"}

// ListedDevice is one device-list row, lightly cleaned, as the `devices`
// command shows it. Rows of every category are listed; Supported tells
// which ones the bridge handles.
type ListedDevice struct {
	// ID is the Tuya device id.
	ID string
	// Name is the user-given name from the app.
	Name string
	// Model is the product name (product_name), falling back to model.
	Model string
	// ProductID is the product the device is an instance of.
	ProductID string
	// Category is Tuya's category code, e.g. "cz" (socket).
	Category string
	// Online is the cloud's connectivity flag.
	Online bool
	// Sub is true for sub-devices reached through a gateway.
	Sub bool
	// Supported is true for the bridged categories (kg, cz, pc; dj, tgq,
	// tgkg, hxd) whose specification, when known, has at least one switch
	// data point (a light's switch code for the light categories).
	Supported bool
}

// listRow is a parsed row plus the status codes the list carried, used
// when a device's specification cannot be read.
type listRow struct {
	dev    ListedDevice
	status map[string]json.RawMessage
}

// devicePage is one page of a device list.
type devicePage struct {
	rows       []listRow
	skipped    int
	hasMore    bool
	lastRowKey string
}

// parseDevicePage decodes a device-list result: either an object with
// devices (or list), has_more and last_row_key (the paged lists), or a bare
// array (GET /v1.0/users/{uid}/devices). Rows without a usable id are
// skipped and counted. A page whose rows are all unusable is an error, not
// an empty page: taken as empty, it would make the bridge remove devices.
func parseDevicePage(result json.RawMessage) (devicePage, error) {
	var pg devicePage
	var items []json.RawMessage
	if a, ok := jsonv.Array(result); ok {
		items = a
	} else if m, ok := jsonv.Object(result); ok {
		raw := m["devices"]
		if raw == nil {
			raw = m["list"]
		}
		if a, ok := jsonv.Array(raw); ok {
			items = a
		} else if raw != nil && strings.TrimSpace(string(raw)) != "null" {
			return devicePage{}, errors.New("device list: devices is not an array")
		}
		pg.hasMore, _ = jsonv.Bool(m["has_more"])
		pg.lastRowKey, _ = jsonv.String(m["last_row_key"])
	} else if s := strings.TrimSpace(string(result)); s != "null" && s != "" {
		return devicePage{}, errors.New("device list: result is neither an object nor an array")
	}
	for _, it := range items {
		r, ok := parseListRow(it)
		if !ok {
			pg.skipped++
			continue
		}
		pg.rows = append(pg.rows, r)
	}
	if len(pg.rows) == 0 && pg.skipped > 0 {
		return devicePage{}, fmt.Errorf("device list: none of the %d rows has a usable id", pg.skipped)
	}
	return pg, nil
}

func parseListRow(raw json.RawMessage) (listRow, bool) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return listRow{}, false
	}
	var d ListedDevice
	d.ID, _ = jsonv.String(m["id"])
	if !validDeviceID(d.ID) {
		return listRow{}, false
	}
	name, _ := jsonv.String(m["name"])
	d.Name = text.Printable(name)
	product, _ := jsonv.String(m["product_name"])
	model, _ := jsonv.String(m["model"])
	d.Model = text.Printable(product)
	if d.Model == "" {
		d.Model = text.Printable(model)
	}
	pid, _ := jsonv.String(m["product_id"])
	d.ProductID = text.Printable(pid)
	cat, _ := jsonv.String(m["category"])
	d.Category = text.Printable(cat)
	d.Online, _ = jsonv.Bool(m["online"])
	if on, ok := jsonv.Bool(m["isOnline"]); ok && m["online"] == nil {
		d.Online = on
	}
	d.Sub, _ = jsonv.Bool(m["sub"])
	d.Supported = slices.Contains(supportedCategories, d.Category)
	status, _ := parseStatusList(m["status"])
	return listRow{dev: d, status: status}, true
}

// parseStatusList decodes [{"code":…,"value":…}, …] into code → value.
// Entries without a code are skipped; a later entry of a code wins.
func parseStatusList(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	items, ok := jsonv.Array(raw)
	if !ok {
		return nil, false
	}
	out := make(map[string]json.RawMessage, len(items))
	for _, it := range items {
		m, ok := jsonv.Object(it)
		if !ok {
			continue
		}
		code, _ := jsonv.String(m["code"])
		if code == "" || m["value"] == nil {
			continue
		}
		out[code] = m["value"]
	}
	return out, true
}
