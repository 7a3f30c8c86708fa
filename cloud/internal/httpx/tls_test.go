package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The pool decides alone whom the client trusts: the server's own
// certificate works, an empty pool fails, and a client that skipped
// verification gets it back.
func TestWithRootCAs_TrustsOnlyThePool(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	good := x509.NewCertPool()
	good.AddCert(srv.Certificate())

	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for name, base := range map[string]*http.Client{"nil": nil, "test client": srv.Client(), "insecure": insecure} {
		hc, err := WithRootCAs(base, good)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := NewCaller(hc, time.Minute).Do(t.Context(), Request{Method: "GET", URL: srv.URL, Op: "op"}); err != nil {
			t.Errorf("%s with the server's certificate: %v", name, err)
		}
		hc, err = WithRootCAs(base, x509.NewCertPool())
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewCaller(hc, time.Minute).Do(t.Context(), Request{Method: "GET", URL: srv.URL, Op: "op"})
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("%s with an empty pool: err = %v, want an unknown authority", name, err)
		}
	}
	if !insecure.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify {
		t.Error("the caller's transport was changed")
	}
	if _, err := WithRootCAs(&http.Client{Transport: roundTripFunc(nil)}, good); err == nil {
		t.Error("a transport that cannot carry a pool was accepted")
	}
	if _, err := WithRootCAs(nil, nil); err == nil {
		t.Error("a nil pool was accepted")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
