package kasa

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

const (
	// DefaultURL is the global Kasa V1 cloud endpoint.
	DefaultURL = "https://wap.tplinkcloud.com"
	// DefaultConcurrency is the default number of parallel passthrough
	// requests per ListDevices or ReadStates call.
	DefaultConcurrency = 4
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
	// URL is the cloud endpoint; default DefaultURL. Devices whose
	// appServerUrl has the same scheme and host are trusted as well, which
	// is what self-hosted and test clouds rely on.
	URL string
	// StateDir holds the token file <StateDir>/kasa-<Account>.json. Empty
	// means no persistence: every start logs in with the password.
	StateDir string
	// HTTPClient sends every request; nil means a shared pooled client
	// (dial 10s, TLS handshake 10s, idle connections 90s, 60s overall
	// backstop). Redirects are never followed, whichever client is used,
	// so the token in a request body cannot be re-posted elsewhere.
	HTTPClient *http.Client
	// Energy turns device counters into lifetime totals that never
	// decrease; nil publishes the raw device counter (never negative).
	Energy *cloud.EnergyMeter
	// Logger receives the provider's logs; nil discards them.
	Logger *zap.Logger
	// Concurrency bounds parallel passthrough requests per ListDevices or
	// ReadStates call; zero or negative means DefaultConcurrency.
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

// String renders the options for diagnostics without the password.
func (o Options) String() string {
	pw := "unset"
	if o.Password != "" {
		pw = "set"
	}
	return fmt.Sprintf("kasa.Options{Account:%q Username:%q Password:%s URL:%q StateDir:%q Concurrency:%d}",
		o.Account, o.Username, pw, o.URL, o.StateDir, o.Concurrency)
}

// GoString is like String, so that %#v does not print the password either.
func (o Options) GoString() string { return o.String() }

func validateAccount(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("account name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("account name %q is not allowed", name)
	case strings.ContainsAny(name, `/\`+"\x00"):
		return fmt.Errorf("account name %q contains a path separator", name)
	}
	return nil
}
