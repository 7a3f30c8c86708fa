package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The bridge API, zigbee2mqtt style: a request on
// <base>/bridge/request/<path> gets exactly one answer on
// <base>/bridge/response/<path>:
//
//	{"status":"ok"|"error","data":{…},"error":"…","transaction":<echoed>}
//
// Events go to <base>/bridge/event as {"type":"…","data":{…}}, and
// <base>/bridge/info (retained) describes the running bridge.

// apiPaths lists the request paths, for the error on an unknown one.
var apiPaths = []string{"health_check", "info", "devices/refresh", "device/refresh", "device/rename", "device/options", "log_level", "restart"}

// pendingReply is a request waiting for a device worker.
type pendingReply struct {
	path        string
	transaction json.RawMessage
}

type apiResponse struct {
	Status      string          `json:"status"`
	Data        any             `json:"data"`
	Error       string          `json:"error,omitempty"`
	Transaction json.RawMessage `json:"transaction,omitempty"`
}

// apiRequest is the union of every request's fields. Unknown fields are an
// error (a typo must not be silently ignored).
type apiRequest struct {
	Transaction json.RawMessage `json:"transaction"`
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	From        string          `json:"from"`
	To          string          `json:"to"`
	Account     string          `json:"account"`
	Level       string          `json:"level"`
	Component   string          `json:"component"`
	Options     *runtimeOption  `json:"options"`
}

// isRequestTopic reports whether topic is a bridge request, and its path:
// empty for <base>/bridge/request and <base>/bridge/request/ (answered
// with an error).
func isRequestTopic(base, topic string) (string, bool) {
	prefix := base + "/bridge/request"
	if topic == prefix {
		return "", true
	}
	if path, ok := strings.CutPrefix(topic, prefix+"/"); ok {
		return path, true
	}
	return "", false
}

// requestTopic is the topic of a request with path (see isRequestTopic).
func requestTopic(base, path string) string {
	if path == "" {
		return base + "/bridge/request"
	}
	return base + "/bridge/request/" + path
}

// responseTopic is where a request with path is answered:
// <base>/bridge/response/<path>, or <base>/bridge/response for a request
// without a path (a subscription to <base>/bridge/response/# receives
// both).
func responseTopic(base, path string) string {
	if path == "" {
		return base + "/bridge/response"
	}
	return base + "/bridge/response/" + path
}

// decodeRequest decodes a request payload: empty means {}; anything else
// must be one JSON object of known fields.
func decodeRequest(payload []byte) (apiRequest, error) {
	var req apiRequest
	if len(payload) > maxPayload {
		return req, fmt.Errorf("payload of %d bytes is larger than %d", len(payload), maxPayload)
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return req, nil
	}
	if trimmed[0] != '{' {
		return req, fmt.Errorf("payload must be a JSON object, got %s", quotePayload(trimmed))
	}
	// Get the transaction first so even a request with bad fields echoes it.
	var tx struct {
		Transaction json.RawMessage `json:"transaction"`
	}
	_ = json.Unmarshal(trimmed, &tx)
	req.Transaction = tx.Transaction
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apiRequest{Transaction: tx.Transaction}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return apiRequest{Transaction: tx.Transaction}, errors.New("invalid JSON: more than one value")
	}
	return req, nil
}
