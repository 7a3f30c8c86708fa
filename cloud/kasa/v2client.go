package kasa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// What a V2 client says it is (reference §5.2, §5.3): the Kasa Android
// app 3.4.451 on a Pixel.
const (
	v2AppType   = "Kasa_Android_Mix"
	v2AppVer    = "3.4.451"
	v2UserAgent = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel Build/UP1A)"
	v2Device    = "Pixel"
)

// v2Client sends signed V2 requests: every body is serialised once,
// signed (Content-MD5, X-Authorization) and sent as those exact bytes,
// with the V2 query string. It is immutable and safe for concurrent use.
type v2Client struct {
	http                 *httpx.Caller
	accessKey, secretKey string
	terminal             string // termID of every query
	// nonce returns a fresh nonce per request (a random UUID).
	nonce func() string
	// observe, when set, is told about every call (after it ended).
	observe func(method string, err error)
}

// post sends body (encoded to JSON once) to base+path, signed for the URL
// path, with the V2 query (token added when not empty), and returns the
// answer's result. A non-zero error code, outer error_code or nested
// result.errorCode, is an *APIError for op; the result is returned with
// it (the MFA answer carries its process id there).
//
// Errors never hold the body, the token or the URL's query; they start
// with op and the URL without query.
func (c *v2Client) post(ctx context.Context, base, path, op string, body any, token string) (res json.RawMessage, err error) {
	if c.observe != nil {
		defer func() { c.observe(op, err) }()
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("%s: server URL: %w", op, httpx.UnwrapURLError(err))
	}
	u.RawQuery = c.query(token).Encode()
	sig := signV2(c.accessKey, c.secretKey, data, v2Timestamp, c.nonce(), u.EscapedPath())
	answer, err := c.http.Do(ctx, httpx.Request{
		Method: http.MethodPost,
		URL:    u.String(),
		Header: http.Header{
			"Content-Type":    {"application/json;charset=UTF-8"},
			"Accept":          {"application/json"},
			"User-Agent":      {v2UserAgent},
			"Content-Md5":     {sig.ContentMD5},
			"X-Authorization": {sig.Authorization},
		},
		Body: data,
		Op:   op + " " + httpx.RedactURL(u.String()),
	})
	if err != nil {
		return nil, err
	}
	res, err = decodeV2(op, answer)
	if code, ok := apiCode(err); ok && code == codePermissionDenied {
		err = fmt.Errorf("%w; if every V2 request fails so, the cloud refuses the signature: check v2.access_key and v2.secret_key (TP-Link may have changed the app's keys)", err)
	}
	return res, err
}

// query is the V2 query string of every request (reference §5.3).
func (c *v2Client) query(token string) url.Values {
	q := url.Values{
		"appName":  {v2AppType},
		"appVer":   {v2AppVer},
		"netType":  {"wifi"},
		"termID":   {c.terminal},
		"ospf":     {"Android 14"},
		"brand":    {"TPLINK"},
		"locale":   {"en_US"},
		"model":    {v2Device},
		"termName": {v2Device},
		"termMeta": {v2Device},
	}
	if token != "" {
		q.Set("token", token)
	}
	return q
}

func newNonce() string { return uuid.NewString() }

// decodeV2 checks a V2 answer at both levels: the outer error_code and,
// when it is 0, result.errorCode (a number or a string holding one) with
// result.errorMsg. Either non-zero is an *APIError returned together with
// the result (JSON null when absent).
func decodeV2(op string, data []byte) (json.RawMessage, error) {
	var env struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Msg       json.RawMessage `json:"msg"`
		Result    json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	code, ok := jsonv.Int(env.ErrorCode)
	if !ok {
		return nil, fmt.Errorf("%s: malformed response: missing or invalid error_code", op)
	}
	res := env.Result
	if len(res) == 0 {
		res = json.RawMessage("null")
	}
	if code != 0 {
		msg, _ := jsonv.String(env.Msg)
		return res, &APIError{Method: op, Code: code, Msg: msg}
	}
	obj, ok := jsonv.Object(res)
	if !ok {
		return res, nil
	}
	raw, present := obj["errorCode"]
	if !present {
		return res, nil
	}
	nested, ok := jsonv.Int(raw)
	if !ok {
		return nil, fmt.Errorf("%s: malformed response: invalid result.errorCode", op)
	}
	if nested != 0 {
		msg, _ := jsonv.String(obj["errorMsg"])
		return res, &APIError{Method: op, Code: nested, Msg: msg}
	}
	return res, nil
}

var errNoToken = errors.New("response without a token")
