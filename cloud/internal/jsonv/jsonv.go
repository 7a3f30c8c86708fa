// Package jsonv decodes single JSON values leniently, for vendor clouds
// that are loose about types: numbers arrive as strings, flags as 0/1 or
// "true", and fields go missing between firmware or API versions. A
// response is therefore decoded field by field with these helpers, so that
// one odd field never fails a whole answer.
//
// Every helper takes the raw bytes of one value (surrounding space is
// ignored; nil or empty means "absent") and returns the decoded value and
// whether raw held one of the accepted shapes. Nothing panics on any input.
//
// The one rule for numbers: non-finite values are refused everywhere.
// Float, Int64, Int and Bit never return NaN or ±Inf, whether a string
// spelled them ("NaN", "-Infinity") or a number overflowed (1e999, which
// is no number at all); NonFinite tells a caller that wants to say why a value was refused.
//
// The helpers are pure functions, safe for concurrent use.
package jsonv

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Object decodes raw as a JSON object; ok is false for anything else
// (null included).
func Object(raw []byte) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// Array decodes raw as a JSON array; ok is false for anything else (null
// included).
func Array(raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, false
	}
	return a, true
}

// String decodes a JSON string. The result may hold any text, invalid
// UTF-8 replaced as encoding/json does; callers clean names with
// text.Printable.
func String(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// number decodes a JSON number or a string holding one (surrounding space
// inside the string is ignored). It is non-finite only when a string
// spelled it so ("NaN", "Inf", "-Infinity"); a literal or string beyond
// float64's range is not a number at all.
func number(raw []byte) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false // Unmarshal would leave 0 for null
	}
	if raw[0] == '"' {
		s, ok := String(raw)
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return f, err == nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false
	}
	return f, true
}

// Float decodes a finite JSON number, or a string holding one ("12.5",
// " 3 "). NaN and ±Inf are refused (ok false), and so are numbers beyond
// float64's range.
func Float(raw []byte) (float64, bool) {
	f, ok := number(raw)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// NonFinite reports whether raw is a string that spells a non-finite
// number ("NaN", "Inf", "-Infinity"), which Float refuses. It lets a
// caller tell "not a number" from "absent or of another type".
func NonFinite(raw []byte) bool {
	f, ok := number(raw)
	return ok && (math.IsNaN(f) || math.IsInf(f, 0))
}

// Int64 decodes an integral JSON number (or numeric string) within ±2^53,
// the range a float64 holds exactly. 3.0 is accepted, 3.5 is not.
func Int64(raw []byte) (int64, bool) {
	f, ok := Float(raw)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// Int decodes an integral JSON number (or numeric string) that fits in 32
// bits.
func Int(raw []byte) (int, bool) {
	n, ok := Int64(raw)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// Bit decodes a 0/1 flag (number or numeric string) as a bool; other
// values are not ok.
func Bit(raw []byte) (bool, bool) {
	n, ok := Int(raw)
	if !ok || (n != 0 && n != 1) {
		return false, false
	}
	return n == 1, true
}

// Bool decodes a JSON boolean, or the strings "true" and "false".
func Bool(raw []byte) (bool, bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true", `"true"`:
		return true, true
	case "false", `"false"`:
		return false, true
	}
	return false, false
}
