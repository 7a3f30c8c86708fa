package httpx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Caller sends requests to a cloud, each bounded by a timeout, and reads
// the answers up to MaxBody. Create it with NewCaller; it is immutable and
// safe for concurrent use.
type Caller struct {
	hc      *http.Client
	pooled  bool // hc is the shared pool (NewCaller got nil)
	timeout time.Duration
	maxBody int64
	limit   *hostLimit // nil: no bound per host
}

// NewCaller returns a Caller on Client(hc) (nil: the shared pooled client;
// redirects are never followed) whose requests each end after timeout at
// the latest, whatever the caller's context allows. A timeout of zero or
// less sets no bound of the Caller's own (callers resolve their defaults
// before).
func NewCaller(hc *http.Client, timeout time.Duration) *Caller {
	return &Caller{hc: Client(hc), pooled: hc == nil, timeout: timeout, maxBody: MaxBody}
}

// Timeout returns the per-request bound (zero or less: none).
func (c *Caller) Timeout() time.Duration { return c.timeout }

// Request is one HTTP request to a cloud.
type Request struct {
	// Method and URL are sent as they are.
	Method string
	URL    string
	// Header is sent as it is: keys are not canonicalised, so a cloud
	// that documents lower-case header names gets them. May be nil.
	Header http.Header
	// Body is sent when not nil.
	Body []byte
	// Op names the call at the start of every error, e.g. "passthrough
	// https://host/" or "GET /v1.0/token/{refresh_token}". It must never
	// hold a secret.
	Op string
}

// Do sends r and returns the body of a 200 answer.
//
// Errors start with r.Op and never contain the body or the URL (both may
// hold secrets). Classification, for errors.Is:
//   - the caller's own cancellation or deadline: an error wrapping
//     ctx.Err() and nothing else;
//   - no answer within the Caller's timeout, or a timeout of the transport
//     itself: cloud.ErrTimeout (which wraps cloud.ErrUnavailable), not a
//     context error;
//   - another network error, or an HTTP 5xx status: cloud.ErrUnavailable;
//   - HTTP 429: cloud.ErrRateLimited;
//   - any other status than 200, or a body over MaxBody: neither.
func (c *Caller) Do(ctx context.Context, r Request) ([]byte, error) {
	release, err := c.limit.acquire(ctx, r.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: wait for a connection: %w", r.Op, err)
	}
	defer release()
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(cctx, r.Method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", r.Op, UnwrapURLError(err))
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Op, cloud.CallFailed(ctx, cctx, c.timeout, UnwrapURLError(err)))
	}
	defer resp.Body.Close()
	// Read before looking at the status, so the connection can be reused.
	data, over, readErr := readBody(resp.Body, c.maxBody, resp.ContentLength)
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%s: http status %q", r.Op, resp.Status)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			err = fmt.Errorf("%w: %w", err, cloud.ErrRateLimited)
		case resp.StatusCode >= 500:
			err = fmt.Errorf("%w: %w", err, cloud.ErrUnavailable)
		}
		return nil, err
	}
	if readErr != nil {
		return nil, fmt.Errorf("%s: read response: %w", r.Op, cloud.CallFailed(ctx, cctx, c.timeout, readErr))
	}
	// An answer that raced with the caller's cancellation or deadline
	// (the transport can hand over a response, even an empty one, just as
	// the context ends) is not trusted: the caller gave up on the call.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Op, cloud.CallFailed(ctx, cctx, c.timeout, err))
	}
	if over {
		return nil, fmt.Errorf("%s: response larger than %d bytes", r.Op, c.maxBody)
	}
	return data, nil
}
