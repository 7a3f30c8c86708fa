package kasa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// transport posts envelopes and decodes the answers. It is stateless and
// safe for concurrent use.
type transport struct {
	http *httpx.Caller
	// observe, when set, is told about every call (after it ended).
	observe func(method string, err error)
}

// newTransport builds a transport on hc (nil: the shared pooled client;
// redirects are never followed, so the token in a body cannot be
// re-posted elsewhere) whose calls each end after timeout (<= 0:
// cloud.DefaultRequestTimeout), with at most perHost calls in flight per
// cloud host (commands, cloud.Interactive, beside the bound).
func newTransport(hc *http.Client, timeout time.Duration, perHost int) *transport {
	if timeout <= 0 {
		timeout = cloud.DefaultRequestTimeout
	}
	return &transport{http: httpx.NewCaller(hc, timeout).LimitPerHost(perHost)}
}

// envelopeRequest is {"method":…,"params":…}; nil params are left out
// (V2 getDeviceList).
type envelopeRequest struct {
	Method string `json:"method"`
	Params any    `json:"params,omitempty"`
}

// call posts {"method":method,"params":params} to endpoint and returns the
// result of a successful envelope. Errors never contain the request body
// (which holds the token or the password) and name the endpoint without
// query or user info.
//
// The call ends after the request timeout at the latest. A network error,
// an HTTP 5xx status and that timeout wrap cloud.ErrUnavailable; the
// timeout is not a context error, so that callers tell it from their own
// cancellation (see httpx.Caller.Do).
func (t *transport) call(ctx context.Context, endpoint, method string, params any) (res json.RawMessage, err error) {
	if t.observe != nil {
		defer func() { t.observe(method, err) }()
	}
	body, err := json.Marshal(envelopeRequest{Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", method, err)
	}
	data, err := t.http.Do(ctx, httpx.Request{
		Method: http.MethodPost,
		URL:    endpoint,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json"},
			"User-Agent":    {userAgent},
			"Cache-Control": {"no-cache"},
		},
		Body: body,
		Op:   method + " " + httpx.RedactURL(endpoint),
	})
	if err != nil {
		return nil, err
	}
	return decodeEnvelope(method, data)
}

// decodeEnvelope checks a response envelope and returns its result (JSON
// null when absent). A non-zero error_code becomes *APIError.
func decodeEnvelope(method string, data []byte) (json.RawMessage, error) {
	var env struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Msg       json.RawMessage `json:"msg"`
		Result    json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", method, err)
	}
	code, ok := jsonv.Int(env.ErrorCode)
	if !ok {
		return nil, fmt.Errorf("%s: malformed response: missing or invalid error_code", method)
	}
	if code != 0 {
		msg, _ := jsonv.String(env.Msg)
		return nil, &APIError{Method: method, Code: code, Msg: msg}
	}
	if len(env.Result) == 0 {
		return json.RawMessage("null"), nil
	}
	return env.Result, nil
}
