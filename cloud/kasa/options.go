package kasa

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

const (
	// DefaultURL is the global Kasa V1 cloud endpoint.
	DefaultURL = "https://wap.tplinkcloud.com"
	// DefaultV2URL is the V2 entry host, where regional discovery starts.
	DefaultV2URL = "https://n-wap.tplinkcloud.com"
	// DefaultConcurrency is the default bound of parallel passthrough
	// requests per ListDevices or ReadStates call, and of the requests in
	// flight per cloud host.
	DefaultConcurrency = 8
	// ProviderKind is the kind reported by Provider.Kind and Device.Provider.
	ProviderKind = "kasa"
	// Manufacturer is the brand reported in Device.Manufacturer.
	Manufacturer = "TP-Link"

	appType   = "Kasa_Android"
	userAgent = "Dalvik/2.1.0 (Linux; U; Android 6.0.1; A0001 Build/M4B30X)"
)

// Options configures a Provider. Only Account and Username are required.
type Options struct {
	// Account is the configured account name, e.g. "home". It appears in
	// logs and in the state file name, so it may not contain path
	// separators.
	Account string
	// Username is the Kasa cloud e-mail address.
	Username string
	// Password may be empty when tokens were stored by Login;
	// the provider then cannot recover from a dead refresh token by itself.
	// It is never logged, stored or put in an error.
	Password string
	// URL is the cloud endpoint: default DefaultURL, or DefaultV2URL with
	// API APIV2 (the entry host of regional discovery). Servers named by
	// the cloud's answers (a device's appServerUrl, the V2 regional host)
	// are trusted when they are https on tplinkcloud.com, or have exactly
	// the scheme and host of URL, which is what self-hosted and test clouds
	// rely on.
	URL string
	// API is APIV1 (default when empty) or APIV2.
	API string
	// V2 configures an APIV2 account; ignored with APIV1.
	V2 V2Options
	// StateDir holds the token file <StateDir>/kasa-<Account>.json. Empty
	// means no persistence: every start logs in with the password.
	StateDir string
	// HTTPClient sends every request; nil means a shared pooled client
	// (dial 10s, TLS handshake 10s, idle connections 90s, 60s overall
	// backstop). Redirects are never followed, whichever client is used,
	// so the token in a request body cannot be re-posted elsewhere. An
	// APIV2 account uses a copy whose transport (then an *http.Transport,
	// or nil) trusts only V2.RootCAs.
	HTTPClient *http.Client
	// Energy turns device counters into lifetime totals that never
	// decrease; nil publishes the raw device counter (never negative).
	Energy *cloud.EnergyMeter
	// Logger receives the provider's logs; nil discards them.
	Logger *zap.Logger
	// Concurrency bounds parallel passthrough requests per ListDevices or
	// ReadStates call, and the requests in flight per cloud host (the
	// account's calls together; commands, marked cloud.Interactive, do
	// not wait for it); zero or negative means DefaultConcurrency.
	Concurrency int
	// Observer is told about every cloud call, login and refresh (for
	// metrics); nil means none.
	Observer cloud.Observer
	// RequestTimeout bounds each single cloud request, whatever the
	// caller's context allows (and whatever HTTPClient's own Timeout is);
	// zero or negative means cloud.DefaultRequestTimeout. A request without an
	// answer by then fails with an error wrapping cloud.ErrUnavailable.
	RequestTimeout time.Duration
}

// V2Options are the settings of an APIV2 account.
type V2Options struct {
	// AccessKey and SecretKey are the app's key pair that signs every V2
	// request; both required. Never logged or put in an error.
	AccessKey, SecretKey string
	// RootCAs are the only certificates trusted for the V2 requests of
	// this account; nil means V2RootCAs (TP-Link's roots).
	RootCAs *x509.CertPool
}

// String renders the options for diagnostics without the password or the
// V2 keys.
func (o Options) String() string {
	return fmt.Sprintf("kasa.Options{Account:%q Username:%q Password:%s URL:%q API:%q V2Keys:%s StateDir:%q Concurrency:%d}",
		o.Account, o.Username, setOrUnset(o.Password), o.URL, o.API, setOrUnset(o.V2.AccessKey+o.V2.SecretKey), o.StateDir, o.Concurrency)
}

func setOrUnset(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// GoString is like String, so that %#v does not print the password either.
func (o Options) GoString() string { return o.String() }
