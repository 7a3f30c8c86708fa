package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxPayload is the largest command payload considered; larger ones are
// refused with a warning (nothing a switch needs comes close).
const maxPayload = 16 << 10

// verb is what a message on a device topic asks for.
type verb int

const (
	verbSet verb = iota + 1 // <base>/<dev>/set[/<prop>]
	verbGet                 // <base>/<dev>/get
)

// commandTopic is a parsed device command topic.
type commandTopic struct {
	device string // the device topic segment(s), e.g. "living_room_lamp"
	verb   verb
	prop   string // for /set/<prop>; empty for /set
}

// parseCommandTopic splits topic (already known to start with base+"/")
// into the device topic and the verb. ok is false for topics that are not
// commands (e.g. our own state and availability topics).
func parseCommandTopic(base, topic string) (commandTopic, bool) {
	rest, found := strings.CutPrefix(topic, base+"/")
	if !found || rest == "" {
		return commandTopic{}, false
	}
	if dev, ok := strings.CutSuffix(rest, "/get"); ok && dev != "" {
		return commandTopic{device: dev, verb: verbGet}, true
	}
	if dev, ok := strings.CutSuffix(rest, "/set"); ok && dev != "" {
		return commandTopic{device: dev, verb: verbSet}, true
	}
	i := strings.LastIndex(rest, "/set/")
	if i <= 0 {
		return commandTopic{}, false
	}
	prop := rest[i+len("/set/"):]
	if prop == "" || strings.Contains(prop, "/") {
		return commandTopic{}, false
	}
	return commandTopic{device: rest[:i], verb: verbSet, prop: prop}, true
}

// switchValue is an ON / OFF / TOGGLE request.
type switchValue int

const (
	switchOff switchValue = iota + 1
	switchOn
	switchToggle
)

func (v switchValue) String() string {
	switch v {
	case switchOn:
		return "ON"
	case switchOff:
		return "OFF"
	case switchToggle:
		return "TOGGLE"
	}
	return "?"
}

// setRequest is everything one /set message asks for. Zero fields are not
// requested.
type setRequest struct {
	state   switchValue
	led     switchValue
	restart bool
	light   lightRequest
}

func (r setRequest) empty() bool { return r.state == 0 && r.led == 0 && !r.restart && r.light.empty() }

// knownKeys names the keys of a JSON /set, knownProps the properties of
// /set/<prop> (a transition goes only with a setting, in the JSON form),
// for errors.
const (
	knownKeys  = "state, brightness, color_temp, color, transition, led, restart"
	knownProps = "state, brightness, color_temp, color, led, restart"
)

// errBadPayload marks payload errors (the message names what was wrong).
var errBadPayload = errors.New("bad payload")

func badPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadPayload, fmt.Sprintf(format, args...))
}

// parseSet decodes a /set (prop == "") or /set/<prop> payload.
//
// /set accepts a plain ON, OFF or TOGGLE (any case, surrounding blanks
// ignored) or a JSON object such as {"state":"ON","led":"off"}; keys and
// values are case-insensitive. For lights the object is Home Assistant's
// JSON light command: {"state":"ON","brightness":0-255,"color_temp":K,
// "color":{"h":0-360,"s":0-100},"transition":seconds}. /set/state and
// /set/led accept the plain form, /set/brightness and /set/color_temp a
// number, /set/color {"h":…,"s":…} or "h,s"; /set/restart accepts any
// payload but an empty one (Home Assistant sends PRESS). An empty payload
// is never a command: it is what clears a retained message. Values outside
// the ranges every light shares are errors here; the device's own ranges
// are checked when the command is made (lightCommand).
func parseSet(prop string, payload []byte) (setRequest, error) {
	var req setRequest
	if len(payload) > maxPayload {
		return req, badPayload("payload of %d bytes is larger than %d", len(payload), maxPayload)
	}
	if len(payload) == 0 {
		return req, badPayload("empty payload (an empty message clears a retained one; it is not a command)")
	}
	switch strings.ToLower(prop) {
	case "":
		trimmed := bytes.TrimSpace(payload)
		if len(trimmed) > 0 && trimmed[0] == '{' {
			return parseSetJSON(trimmed)
		}
		v, err := parseSwitch(string(trimmed))
		if err != nil {
			return req, err
		}
		req.state = v
	case "state":
		v, err := parseSwitch(string(bytes.TrimSpace(payload)))
		if err != nil {
			return req, err
		}
		req.state = v
	case "led":
		v, err := parseSwitch(string(bytes.TrimSpace(payload)))
		if err != nil {
			return req, err
		}
		req.led = v
	case "restart", "reboot":
		req.restart = true
	case "transition":
		return req, badPayload("a transition alone changes nothing: send it in the JSON form with a state, brightness or color, e.g. {\"state\":\"ON\",\"transition\":2} on /set")
	default:
		ok, err := req.light.setProp(strings.ToLower(prop), payload)
		if err != nil {
			return req, err
		}
		if !ok {
			return req, badPayload("unknown property %q (known: %s)", prop, knownProps)
		}
	}
	return req, nil
}

func parseSetJSON(payload []byte) (setRequest, error) {
	var req setRequest
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return req, badPayload("invalid JSON: %v", err)
	}
	// Sorted: the same error for the same payload every time.
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		raw := obj[k]
		switch strings.ToLower(k) {
		case "state":
			v, err := switchFromJSON(k, raw)
			if err != nil {
				return req, err
			}
			req.state = v
		case "led":
			v, err := switchFromJSON(k, raw)
			if err != nil {
				return req, err
			}
			req.led = v
		case "restart", "reboot":
			var b bool
			var s string
			switch {
			case json.Unmarshal(raw, &b) == nil:
				req.restart = b
			case json.Unmarshal(raw, &s) == nil:
				req.restart = true
			default:
				return req, badPayload("%q must be true or a string", k)
			}
		default:
			ok, err := req.light.setJSON(strings.ToLower(k), raw)
			if err != nil {
				return req, err
			}
			if !ok {
				return req, badPayload("unknown key %q (known: %s)", k, knownKeys)
			}
		}
	}
	if req.empty() {
		return req, badPayload("nothing to do: expected a key such as \"state\"")
	}
	return req, nil
}

func switchFromJSON(key string, raw json.RawMessage) (switchValue, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			if b {
				return switchOn, nil
			}
			return switchOff, nil
		}
		return 0, badPayload("%q must be \"ON\", \"OFF\" or \"TOGGLE\"", key)
	}
	return parseSwitch(s)
}

func parseSwitch(s string) (switchValue, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ON":
		return switchOn, nil
	case "OFF":
		return switchOff, nil
	case "TOGGLE":
		return switchToggle, nil
	}
	return 0, badPayload("expected ON, OFF or TOGGLE, got %s", quotePayload([]byte(s)))
}

// quotePayload renders a payload inside an error message: quoted, at most
// 200 bytes, invalid UTF-8 and control bytes escaped. Log fields take
// payloadField (the logger does the quoting).
func quotePayload(p []byte) string {
	const max = 200
	if len(p) > max {
		return fmt.Sprintf("%q… (%d bytes)", p[:max], len(p))
	}
	return fmt.Sprintf("%q", p)
}
