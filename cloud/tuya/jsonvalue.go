package tuya

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Tuya's responses are mostly well typed, but codes sometimes arrive as
// strings, fields go missing between API versions and specification values
// are JSON inside JSON strings. Values are therefore decoded field by field
// with these helpers, so that one odd field never fails a whole response.

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

// jsonFloat decodes a finite JSON number or a string holding one.
func jsonFloat(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false
	}
	var f float64
	if raw[0] == '"' {
		s, ok := jsonString(raw)
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, false
		}
		f = v
	} else if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// jsonInt64 decodes an integral JSON number (or numeric string) that fits
// in 53 bits, the range a float64 holds exactly.
func jsonInt64(raw json.RawMessage) (int64, bool) {
	f, ok := jsonFloat(raw)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// jsonInt decodes an integral JSON number (or numeric string) that fits in
// 32 bits.
func jsonInt(raw json.RawMessage) (int, bool) {
	n, ok := jsonInt64(raw)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// jsonBool decodes a JSON boolean, or the strings "true" and "false".
func jsonBool(raw json.RawMessage) (bool, bool) {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "true", `"true"`:
		return true, true
	case "false", `"false"`:
		return false, true
	}
	return false, false
}
