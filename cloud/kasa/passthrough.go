package kasa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// passthroughParams is the body of a passthrough request. RequestData is a
// JSON document carried as a string, as the cloud requires.
type passthroughParams struct {
	DeviceID    string `json:"deviceId"`
	RequestData string `json:"requestData"`
	Token       string `json:"token,omitempty"` // V1 only
}

// tokenParams is the body of token-only V1 requests such as getDeviceList.
type tokenParams struct {
	Token string `json:"token"`
}

// deviceRequest is the requestData of one passthrough: module -> method ->
// argument, plus an optional "context" addressing strip outlets.
type deviceRequest map[string]any

func newRequest(module, method string, arg any) deviceRequest {
	return deviceRequest{module: map[string]any{method: arg}}
}

// add puts another module.method into the same request.
func (r deviceRequest) add(module, method string, arg any) deviceRequest {
	if m, ok := r[module].(map[string]any); ok {
		m[method] = arg
		return r
	}
	r[module] = map[string]any{method: arg}
	return r
}

// forChild addresses the request to one strip outlet.
func (r deviceRequest) forChild(childID string) deviceRequest {
	if childID != "" {
		r["context"] = map[string]any{"child_ids": []string{childID}}
	}
	return r
}

// deviceResponse is a decoded responseData. A device answers
// {module: {method: {...}}}; when every module's and method's answer is an
// object (or null), the whole document is decoded once into modules. Any
// other shape (a module's own err_code, odd values) is decoded module by
// module as it is asked for, leniently (raw). Both give the same answers:
// the first is only faster (encoding/json validates and copies every
// nested value it is asked to decode, so decoding level by level went over
// a device's answer six times). Not safe for concurrent use (result may
// switch it to the lenient way).
type deviceResponse struct {
	doc     json.RawMessage
	modules map[string]map[string]map[string]json.RawMessage
	raw     map[string]json.RawMessage
}

// parsePassthroughResult extracts result.responseData, which is normally a
// JSON string holding the device's answer (parsed twice) but is accepted as
// an object as well.
func parsePassthroughResult(result json.RawMessage) (*deviceResponse, error) {
	raw, err := responseData(result)
	if err != nil {
		return nil, err
	}
	r := &deviceResponse{doc: raw}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &r.modules); err == nil && r.modules != nil {
			return r, nil
		}
		r.modules = nil
	}
	var ok bool
	if r.raw, ok = jsonv.Object(raw); !ok {
		return nil, errors.New("passthrough: responseData is not a JSON object")
	}
	return r, nil
}

// responseData returns the device's answer in a passthrough result: the
// string value of responseData, or its raw value if it is not a string.
func responseData(result json.RawMessage) (json.RawMessage, error) {
	// Usually every value of result is a string: one pass decodes them.
	var strs map[string]string
	if trimmed := bytes.TrimSpace(result); len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &strs) == nil {
		if s := strs["responseData"]; s != "" { // "" may have been null
			return json.RawMessage(s), nil
		}
	}
	return responseDataLenient(result)
}

// responseDataLenient is responseData for any result, one level at a time.
func responseDataLenient(result json.RawMessage) (json.RawMessage, error) {
	obj, ok := jsonv.Object(result)
	if !ok {
		return nil, errors.New("passthrough: result is not an object")
	}
	raw, ok := obj["responseData"]
	if !ok {
		return nil, errors.New("passthrough: result has no responseData")
	}
	if s, ok := jsonv.String(raw); ok {
		raw = json.RawMessage(s)
	}
	return raw, nil
}

// result returns the answer to module.method after checking the device's
// err_code on the module and on the method; a non-zero code is *DeviceError.
func (r *deviceResponse) result(module, method string) (map[string]json.RawMessage, error) {
	if r.modules != nil {
		mod, ok := r.modules[module]
		if _, odd := mod["err_code"]; !odd {
			switch {
			case !ok:
				return nil, fmt.Errorf("%s.%s: missing from the device response", module, method)
			case mod == nil:
				return nil, fmt.Errorf("%s.%s: module answer is not an object", module, method)
			}
			return methodResult(module, method, mod[method])
		}
		r.raw, _ = jsonv.Object(r.doc) // a module's own err_code: the lenient way
		r.modules = nil
	}
	raw, ok := r.raw[module]
	if !ok {
		return nil, fmt.Errorf("%s.%s: missing from the device response", module, method)
	}
	m, ok := jsonv.Object(raw)
	if !ok {
		return nil, fmt.Errorf("%s.%s: module answer is not an object", module, method)
	}
	if err := errCode(module, method, m); err != nil {
		return nil, err
	}
	res, _ := jsonv.Object(m[method])
	return methodResult(module, method, res)
}

// methodResult checks a method's answer (nil: missing or not an object).
func methodResult(module, method string, res map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if res == nil {
		return nil, fmt.Errorf("%s.%s: missing from the device response", module, method)
	}
	if err := errCode(module, method, res); err != nil {
		return nil, err
	}
	return res, nil
}

func errCode(module, method string, m map[string]json.RawMessage) error {
	raw, ok := m["err_code"]
	if !ok {
		return nil
	}
	code, ok := jsonv.Int(raw)
	if !ok {
		return fmt.Errorf("%s.%s: invalid err_code", module, method)
	}
	if code == 0 {
		return nil
	}
	msg, _ := jsonv.String(m["err_msg"])
	return &DeviceError{Module: module, Method: method, Code: code, Msg: msg}
}
