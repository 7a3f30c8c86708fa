package kasa

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// ListedDevice is one getDeviceList row, lightly cleaned, as the `devices`
// command shows it. Rows of every type are listed; Supported tells which
// ones the bridge handles.
type ListedDevice struct {
	// ID is the cloud deviceId.
	ID string
	// Alias is the user-given name, base64-decoded when it was encoded.
	Alias string
	// Name is the product name (deviceName), e.g. "Smart Wi-Fi Plug Mini".
	Name string
	// Model is deviceModel, e.g. "HS110(EU)".
	Model string
	// DeviceType is e.g. "IOT.SMARTPLUGSWITCH" or "SMART.TAPOPLUG".
	DeviceType string
	// HardwareVersion and FirmwareVersion are deviceHwVer and fwVer.
	HardwareVersion string
	FirmwareVersion string
	// MAC is deviceMac normalised to "50:C7:BF:01:02:03", or "".
	MAC string
	// Online is status == 1: the cloud currently sees the device.
	Online bool
	// AppServerURL is the regional server the device is reached through,
	// as listed (it is checked before use).
	AppServerURL string
	// Supported is true for device types the V1 passthrough can drive
	// (deviceType "IOT.*").
	Supported bool
}

// parseDeviceList decodes result.deviceList. Rows without a usable deviceId
// (and repeated ids) are skipped and counted. A list whose rows are all
// unusable is an error, not an empty account: taken as empty, it would
// make the bridge remove every device.
func parseDeviceList(result json.RawMessage) (rows []ListedDevice, skipped int, err error) {
	obj, ok := jsonv.Object(result)
	if !ok {
		return nil, 0, errors.New("getDeviceList: result is not an object")
	}
	raw, present := obj["deviceList"]
	list, ok := jsonv.Array(raw)
	if !ok {
		if !present || strings.TrimSpace(string(raw)) == "null" {
			return nil, 0, nil // an account without devices
		}
		return nil, 0, errors.New("getDeviceList: deviceList is not an array")
	}
	seen := map[string]bool{}
	for _, r := range list {
		d, ok := parseListRow(r)
		if !ok || seen[d.ID] {
			skipped++
			continue
		}
		seen[d.ID] = true
		rows = append(rows, d)
	}
	if len(rows) == 0 && skipped > 0 {
		return nil, skipped, fmt.Errorf("getDeviceList: none of the %d rows of deviceList has a usable deviceId", skipped)
	}
	return rows, skipped, nil
}

func parseListRow(raw json.RawMessage) (ListedDevice, bool) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return ListedDevice{}, false
	}
	var d ListedDevice
	d.ID, _ = jsonv.String(m["deviceId"])
	if !validID(d.ID) {
		return ListedDevice{}, false
	}
	alias, _ := jsonv.String(m["alias"])
	d.Alias = decodeAlias(alias)
	name, _ := jsonv.String(m["deviceName"])
	d.Name = text.Printable(name)
	model, _ := jsonv.String(m["deviceModel"])
	d.Model = text.Printable(model)
	d.DeviceType, _ = jsonv.String(m["deviceType"])
	d.DeviceType = text.Printable(d.DeviceType)
	hw, _ := jsonv.String(m["deviceHwVer"])
	d.HardwareVersion = text.Printable(hw)
	fw, _ := jsonv.String(m["fwVer"])
	d.FirmwareVersion = text.Printable(fw)
	mac, _ := jsonv.String(m["deviceMac"])
	d.MAC = normalizeMAC(mac)
	status, _ := jsonv.Int(m["status"])
	d.Online = status == 1
	d.AppServerURL, _ = jsonv.String(m["appServerUrl"])
	d.Supported = supportedType(d.DeviceType)
	return d, true
}

// supportedType reports whether devices of a deviceType are bridged: the
// legacy "IOT.*" families that passthrough reaches (plugs, strips,
// dimmers, bulbs and light strips).
func supportedType(t string) bool {
	return strings.HasPrefix(t, "IOT.")
}
