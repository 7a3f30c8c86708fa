package kasa

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The cloud and the devices are loose about JSON types (numbers sometimes
// arrive as strings, fields go missing between firmware versions), so values
// are decoded field by field with these helpers instead of failing a whole
// response on one odd field.

// jsonObject decodes raw as a JSON object; ok is false for anything else.
func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
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

// jsonArray decodes raw as a JSON array; ok is false for anything else.
func jsonArray(raw json.RawMessage) ([]json.RawMessage, bool) {
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

// jsonString decodes a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
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

// jsonFloat decodes a JSON number or a string holding a number. The result
// may be NaN or ±Inf only when a string spelled it so; callers validate.
func jsonFloat(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false
	}
	if raw[0] == '"' {
		s, ok := jsonString(raw)
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

// jsonInt decodes an integral JSON number (or numeric string) that fits in
// 32 bits.
func jsonInt(raw json.RawMessage) (int, bool) {
	f, ok := jsonFloat(raw)
	if !ok || math.IsNaN(f) || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// jsonBit decodes a 0/1 flag as a bool; other values are not ok.
func jsonBit(raw json.RawMessage) (bool, bool) {
	n, ok := jsonInt(raw)
	if !ok || (n != 0 && n != 1) {
		return false, false
	}
	return n == 1, true
}
