package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
)

// WithRootCAs returns a client that trusts exactly the certificates of
// pool for TLS (the system's roots are not consulted), for a cloud that
// presents certificates of a private CA. The pool is scoped to the
// returned client: nothing else in the process trusts it.
//
// hc nil gives a new client on NewTransport (with the 60 s backstop of
// Shared); otherwise hc's transport, which must be an *http.Transport,
// is cloned (its dialer and proxy kept, its connection pool not shared)
// with RootCAs replaced, and the client copied with CheckRedirect set to
// NoRedirects. Verification is never disabled: InsecureSkipVerify is
// cleared whatever hc set, and TLS 1.2 is the minimum.
func WithRootCAs(hc *http.Client, pool *x509.CertPool) (*http.Client, error) {
	if pool == nil {
		return nil, errors.New("no certificate pool")
	}
	var tr *http.Transport
	switch {
	case hc == nil:
		tr = NewTransport()
	case hc.Transport == nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	default:
		t, ok := hc.Transport.(*http.Transport)
		if !ok {
			return nil, errors.New("the HTTP client's transport is not an *http.Transport, so it cannot carry a certificate pool of its own")
		}
		tr = t.Clone()
	}
	cfg := &tls.Config{}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.RootCAs = pool
	cfg.InsecureSkipVerify = false
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	tr.TLSClientConfig = cfg
	if hc == nil {
		return newClient(tr), nil
	}
	c := *hc
	c.Transport = tr
	c.CheckRedirect = NoRedirects
	return &c, nil
}
