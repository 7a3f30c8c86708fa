// Package httpx is the HTTP side every vendor cloud client shares: one
// pooled client per process, no redirects ever, a bound on every request
// and a cap on every response body, and errors that name the call without
// leaking what it carried.
//
// Concurrency: the shared client, Client and Caller are safe for
// concurrent use. Cancellation: every request runs under the caller's
// context, further bounded by the Caller's timeout; see Caller.Do for how
// the two are told apart in errors.
package httpx

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"
)

// MaxBody caps every response body read from a cloud: 4 MiB, far above
// any real answer (a large device list is a few hundred KiB).
const MaxBody = 4 << 20

// Shared returns the process-wide pooled client used when a provider is
// given none: Pooled(DefaultPerHost). It never follows redirects.
func Shared() *http.Client { return Pooled(DefaultPerHost) }

// NewTransport returns a new transport with the settings of Shared's
// (dial 10 s, TLS handshake 10 s, response headers 30 s, idle connections
// kept 90 s, DefaultPerHost+2 per host and four times that in all, proxy
// from the environment), with a connection pool of its own.
func NewTransport() *http.Transport { return newTransport(DefaultPerHost) }

// newTransport is NewTransport for up to perHost requests in flight per
// host: it keeps perHost+interactiveIdle idle connections per host.
func newTransport(perHost int) *http.Transport {
	idle := max(perHost, 1) + interactiveIdle
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4 * idle,
		MaxIdleConnsPerHost:   idle,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func newClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, Timeout: 60 * time.Second, CheckRedirect: NoRedirects}
}

// NoRedirects is a CheckRedirect that stops at the first redirect and
// hands the redirect response to the caller: a 307/308 would re-send the
// body (a password, a token) or the signed headers to wherever it points.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Client returns hc made safe for a cloud client: nil gives Shared(); any
// other client is copied (shallowly: the copy shares hc's Transport and so
// its connection pool) with CheckRedirect set to NoRedirects. hc itself is
// not changed.
func Client(hc *http.Client) *http.Client {
	if hc == nil {
		return Shared()
	}
	c := *hc
	c.CheckRedirect = NoRedirects
	return &c
}

// UnwrapURLError drops *url.Error's wrapper, whose text repeats the full
// URL (which may hold a token in its path or query); callers name the call
// themselves.
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// RedactURL renders a URL for logs and errors: user info becomes
// "redacted", every query value becomes "redacted" (a token may travel as
// ?token=…) and the fragment is dropped. An unparseable URL renders as
// "<unparseable URL>".
func RedactURL(raw string) string {
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
