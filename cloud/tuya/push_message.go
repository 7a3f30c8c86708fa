package tuya

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// Protocol numbers of the message service that the provider reads
// (reference §6.3): the legacy status report (4) and device events (20),
// and their IoT Core successors (1000, 1001).
const (
	protoStatus     = 4
	protoEvent      = 20
	protoProperties = 1000
	protoDevice     = 1001
)

// Bounds of one decoded message.
const (
	maxPushItems = 256
	maxPushName  = 256
	maxDataIDLen = 128
)

// pushKind is what a decoded message asks for.
type pushKind int

const (
	// pushIgnored: a message of no interest to the bridge (a data point
	// renamed, an event the bridge has no use for).
	pushIgnored pushKind = iota
	// pushStatus: data point values reported by a device.
	pushStatus
	// pushOnline, pushOffline: the device's connectivity changed.
	pushOnline
	pushOffline
	// pushRename: the device was renamed in the app.
	pushRename
	// pushRelist: the device list changed (bound to a user, removed,
	// transferred): list again.
	pushRelist
)

// pushItem is one reported data point.
type pushItem struct {
	code  string
	value json.RawMessage
	// t is the report time (ms), 0 when the message did not give one.
	t int64
}

// pushMessage is the decoded business data of one pushed message.
type pushMessage struct {
	kind pushKind
	// devID is the device concerned ("" only for pushIgnored).
	devID string
	// dataID identifies a status report (legacy dataId), "" if absent.
	dataID string
	items  []pushItem
	// name is the new name (pushRename), cleaned with text.Printable.
	name string
	// at is the event's time (ms), 0 if absent.
	at int64
	// bizCode names the event, for logs ("" for status reports).
	bizCode string
}

// errUnknownProtocol is a message of a protocol the provider does not
// read, errUnknownEvent an event (bizCode) it does not know; both are
// counted and logged once per protocol or event, never fatal.
var (
	errUnknownProtocol = errors.New("protocol not read by kasa2mqtt")
	errUnknownEvent    = errors.New("event not known to kasa2mqtt")
)

// bizCodes maps the device events of protocols 20 and 1001 to what they
// ask for. Unknown codes are ignored (counted and logged once).
var bizCodes = map[string]pushKind{
	// protocol 20 (legacy)
	"online":       pushOnline,
	"offline":      pushOffline,
	"nameUpdate":   pushRename,
	"dpNameUpdate": pushIgnored,
	"bindUser":     pushRelist,
	"delete":       pushRelist,
	// protocol 1001 (IoT Core)
	"deviceOnline":       pushOnline,
	"deviceOffline":      pushOffline,
	"deviceNameUpdate":   pushRename,
	"deviceDpNameUpdate": pushIgnored,
	"deviceBindUser":     pushRelist,
	"deviceBind":         pushRelist,
	"deviceUnbind":       pushRelist,
	"deviceDelete":       pushRelist,
	"deviceRemove":       pushRelist,
	"deviceTransfer":     pushRelist,
}

// parseMessage decodes the decrypted data of a message of protocol
// proto. It is tolerant: unknown keys are ignored, ids may sit at the top
// level or in bizData, times may be called t, time or ts, and the status
// list may be called status or properties. A message of a protocol the
// provider does not read returns errUnknownProtocol, an event with an
// unknown bizCode errUnknownEvent (with msg.bizCode set), a message that
// cannot be used a *frameError. Items without a code or value, and values
// of more than 1 KiB, are skipped.
func parseMessage(proto int, data []byte) (pushMessage, error) {
	var msg pushMessage
	m, ok := jsonv.Object(data)
	if !ok {
		return msg, parseErr("protocol %d: data is not a JSON object", proto)
	}
	biz, _ := jsonv.Object(m["bizData"])
	field := func(keys ...string) json.RawMessage {
		for _, src := range []map[string]json.RawMessage{m, biz} {
			for _, k := range keys {
				if v, ok := src[k]; ok && string(v) != "null" {
					return v
				}
			}
		}
		return nil
	}
	msg.bizCode, _ = jsonv.String(m["bizCode"])
	msg.bizCode = text.Truncate(text.Printable(msg.bizCode), 64)
	if t, ok := jsonv.Int64(field("time", "ts", "t")); ok && t > 0 {
		msg.at = t
	}
	switch proto {
	case protoStatus, protoProperties:
		if proto == protoProperties && msg.bizCode != "" && msg.bizCode != "devicePropertyMessage" {
			return msg, errUnknownEvent
		}
		msg.kind = pushStatus
	case protoEvent, protoDevice:
		kind, known := bizCodes[msg.bizCode]
		if !known {
			return msg, errUnknownEvent
		}
		msg.kind = kind
	default:
		return msg, errUnknownProtocol
	}
	id, _ := jsonv.String(field("devId", "deviceId", "dev_id"))
	if !validDeviceID(id) {
		msg.kind = pushIgnored
		return msg, parseErr("protocol %d: no usable device id", proto)
	}
	msg.devID = id
	switch msg.kind {
	case pushStatus:
		if d, ok := jsonv.String(field("dataId")); ok && text.IsToken(d, maxDataIDLen) {
			msg.dataID = d
		}
		list, ok := jsonv.Array(field("status", "properties"))
		if !ok {
			return msg, parseErr("protocol %d: status report without a status list", proto)
		}
		for _, raw := range list {
			if len(msg.items) == maxPushItems {
				break
			}
			if it, ok := parseItem(raw); ok {
				msg.items = append(msg.items, it)
			}
		}
		if len(msg.items) == 0 {
			return msg, parseErr("protocol %d: status report without a usable data point", proto)
		}
	case pushRename:
		name, _ := jsonv.String(field("name", "deviceName", "devName"))
		name = text.Truncate(text.Printable(name), maxPushName)
		if name == "" {
			return msg, parseErr("protocol %d: %s without a name", proto, msg.bizCode)
		}
		msg.name = name
	}
	return msg, nil
}

// parseItem decodes {"code", "value", "t" or "time"[, "<dpId>": …]}.
func parseItem(raw json.RawMessage) (pushItem, bool) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return pushItem{}, false
	}
	code, _ := jsonv.String(m["code"])
	v := m["value"]
	if code == "" || len(code) > 64 || strings.ContainsAny(code, " \t\r\n") || v == nil || string(v) == "null" || len(v) > 1024 {
		return pushItem{}, false
	}
	it := pushItem{code: code, value: v}
	for _, k := range []string{"t", "time"} {
		if t, ok := jsonv.Int64(m[k]); ok && t > 0 {
			it.t = t
			break
		}
	}
	return it, true
}

// describe renders a message for debug logs, without values.
func (m pushMessage) describe() string {
	switch m.kind {
	case pushStatus:
		codes := make([]string, len(m.items))
		for i, it := range m.items {
			codes[i] = it.code
		}
		return fmt.Sprintf("status %s", strings.Join(codes, ","))
	case pushIgnored:
		return "ignored " + m.bizCode
	}
	return m.bizCode
}
