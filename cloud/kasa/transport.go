package kasa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// maxBody caps every response body read from the cloud.
const maxBody = 4 << 20

// defaultHTTPClient is the pooled client used when Options.HTTPClient is nil,
// built once per process.
var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          32,
			MaxIdleConnsPerHost:   8,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		Timeout:       60 * time.Second,
		CheckRedirect: noRedirects,
	}
})

// noRedirects stops the client at the first redirect: a 307/308 would
// re-post the body, token included, to wherever the redirect points.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// transport posts envelopes and decodes the answers. It is stateless and
// safe for concurrent use.
type transport struct {
	hc *http.Client
	// timeout bounds each call, whatever the caller's context allows.
	timeout time.Duration
	// observe, when set, is told about every call (after it ended).
	observe func(method string, err error)
}

// newTransport builds a transport on hc (nil: the shared pooled client)
// whose calls each end after timeout (<= 0: DefaultRequestTimeout).
func newTransport(hc *http.Client, timeout time.Duration) *transport {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	if hc == nil {
		return &transport{hc: defaultHTTPClient(), timeout: timeout}
	}
	c := *hc // shallow copy shares the pooled Transport
	c.CheckRedirect = noRedirects
	return &transport{hc: &c, timeout: timeout}
}

type envelopeRequest struct {
	Method string `json:"method"`
	Params any    `json:"params"`
}

// call posts {"method":method,"params":params} to endpoint and returns the
// result of a successful envelope. Errors never contain the request body
// (which holds the token or the password) and name the endpoint without
// query or user info.
//
// The call ends after t.timeout at the latest. A network error, an HTTP
// 5xx status and that timeout wrap cloud.ErrUnavailable; the timeout is not
// a context error, so that callers tell it from their own cancellation.
func (t *transport) call(ctx context.Context, endpoint, method string, params any) (res json.RawMessage, err error) {
	if t.observe != nil {
		defer func() { t.observe(method, err) }()
	}
	body, err := json.Marshal(envelopeRequest{Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", method, err)
	}
	cctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: build request: %w", method, redactURL(endpoint), unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Cache-Control", "no-cache")

	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redactURL(endpoint), cloud.CallFailed(ctx, cctx, t.timeout, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%s %s: http status %q", method, redactURL(endpoint), resp.Status)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			err = fmt.Errorf("%w: %w", err, cloud.ErrRateLimited)
		case resp.StatusCode >= 500:
			err = fmt.Errorf("%w: %w", err, cloud.ErrUnavailable)
		}
		return nil, err
	}
	if readErr != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, redactURL(endpoint), cloud.CallFailed(ctx, cctx, t.timeout, readErr))
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s: response larger than %d bytes", method, redactURL(endpoint), maxBody)
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
	code, ok := jsonInt(env.ErrorCode)
	if !ok {
		return nil, fmt.Errorf("%s: malformed response: missing or invalid error_code", method)
	}
	if code != 0 {
		msg, _ := jsonString(env.Msg)
		return nil, &APIError{Method: method, Code: code, Msg: msg}
	}
	if len(env.Result) == 0 {
		return json.RawMessage("null"), nil
	}
	return env.Result, nil
}

// unwrapURLError drops *url.Error's wrapper, whose text repeats the full
// URL; callers name the (redacted) endpoint themselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// redactURL renders a URL for logs and errors: user info and every query
// value are replaced (a token may travel as ?token=…).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
