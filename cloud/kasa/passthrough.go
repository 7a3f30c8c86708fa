package kasa

import (
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

// deviceResponse is a decoded responseData: module -> raw module result.
type deviceResponse map[string]json.RawMessage

// parsePassthroughResult extracts result.responseData, which is normally a
// JSON string holding the device's answer (parsed twice) but is accepted as
// an object as well.
func parsePassthroughResult(result json.RawMessage) (deviceResponse, error) {
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
	modules, ok := jsonv.Object(raw)
	if !ok {
		return nil, errors.New("passthrough: responseData is not a JSON object")
	}
	return deviceResponse(modules), nil
}

// result returns the answer to module.method after checking the device's
// err_code on the module and on the method; a non-zero code is *DeviceError.
func (r deviceResponse) result(module, method string) (map[string]json.RawMessage, error) {
	raw, ok := r[module]
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
	res, ok := jsonv.Object(m[method])
	if !ok {
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
