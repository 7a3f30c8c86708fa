package tuya

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

const (
	// ProviderKind is the kind reported by Provider.Kind and Device.Provider.
	ProviderKind = "tuya"
	// Manufacturer is the brand reported in Device.Manufacturer: the cloud
	// does not name the plug's own brand.
	Manufacturer = "Tuya"
	// AuthSimple and AuthCode are the values of Options.Auth.
	AuthSimple = "simple"
	AuthCode   = "code"
	// DefaultConcurrency is the default bound of requests in flight to the
	// project's data centre.
	DefaultConcurrency = 8
)

// DefaultBudget is the call budget of a Tuya account that sets none: the
// quota of a trial project, about 30,000 calls a month (see the Tuya
// reference; paid projects set their own, or "none").
var DefaultBudget = cloud.Budget{Calls: 30000, Period: cloud.PeriodMonth}

// Options configures a Provider. Account, AccessID, AccessSecret and one of
// Endpoint and Region are required.
type Options struct {
	// Account is the configured account name, e.g. "home". It appears in
	// logs and in the state file name, so it may not contain path
	// separators.
	Account string
	// AccessID is the cloud project's Access ID (the client_id header).
	AccessID string
	// AccessSecret is the project's Access Secret. It only keys the request
	// signatures: it is never sent, logged, stored or put in an error.
	AccessSecret string
	// Endpoint is the OpenAPI base URL, e.g. https://openapi.tuyaeu.com (the
	// fake cloud's URL in tests). Empty means RegionEndpoint(Region).
	Endpoint string
	// Region is the data centre (cn, us, us-e, eu, eu-w, in). It selects
	// the endpoint when Endpoint is empty and is named in the errors that
	// point at a data-centre mismatch (1106, 2406).
	Region string
	// UserID is the app account's user id. When set, devices are listed
	// with GET /v1.0/users/{uid}/devices instead of the project-wide list.
	UserID string
	// Auth is AuthSimple (default: tokens from the access id and secret) or
	// AuthCode (a user authorised the project once, see ExchangeCode; the
	// provider then lives on refresh tokens and never falls back to a
	// simple-mode grant).
	Auth string
	// StateDir holds the token file <StateDir>/tuya-<Account>.json (mode
	// 0600, atomic writes). Empty means no persistence: every start gets a
	// new token (and code mode cannot survive a restart).
	StateDir string
	// HTTPClient sends every request; nil means a shared pooled client
	// (dial 10s, TLS handshake 10s, idle connections 90s, 60s overall
	// backstop). Redirects are never followed, whichever client is used.
	HTTPClient *http.Client
	// Energy accumulates the add_ele deltas into lifetime totals (key
	// "tuya/<device id>") that never decrease and survive restarts; nil
	// keeps the totals in memory only.
	Energy *cloud.EnergyMeter
	// Logger receives the provider's logs; nil discards them.
	Logger *zap.Logger
	// ScaleOverrides replaces the decimal scale of a data point for
	// products whose specification is wrong: ScaleOverrides[deviceID][code],
	// e.g. {"bf12…": {"cur_power": 1}}. The device id is the physical
	// device's (not a strip outlet's).
	ScaleOverrides map[string]map[string]int
	// Observer is told about every cloud call, token grant and refresh
	// (for metrics); nil means none.
	Observer cloud.Observer
	// Now is the host clock; nil means time.Now. The provider signs with
	// the cloud's time estimated from it, so tests inject skew here.
	Now func() time.Time
	// Push is PushAuto, PushOn or PushOff (empty means PushOff): whether
	// Provider.Push connects to the project's message service and hands
	// device changes to the bridge as they happen. See Provider.Push.
	Push string
	// PushURL replaces the scheme, host and port of the message service
	// (see PushAddress); empty means the Region's, or with an Endpoint the
	// data centre whose documented base URL it is (see PushAddressFor); for
	// any other Endpoint no address is known.
	PushURL string
	// PushKeepAlive is the interval of the push connection's keep-alive
	// pings; a connection that answers nothing between two pings is
	// replaced. Zero or negative means DefaultPushKeepAlive.
	PushKeepAlive time.Duration
	// Clock times the push connection's keep-alive pings and reconnect
	// waits; nil means the system clock.
	Clock clock.Clock
	// Concurrency bounds the requests in flight to the data centre
	// (commands, marked cloud.Interactive, do not wait for it); zero or
	// negative means DefaultConcurrency.
	Concurrency int
	// RequestTimeout bounds each single cloud request, whatever the
	// caller's context allows (and whatever HTTPClient's own Timeout is);
	// zero or negative means cloud.DefaultRequestTimeout. A request without an
	// answer by then fails with an error wrapping cloud.ErrUnavailable.
	RequestTimeout time.Duration
}

// String renders the options for diagnostics without the access secret.
func (o Options) String() string {
	secret := "unset"
	if o.AccessSecret != "" {
		secret = "set"
	}
	auth := o.Auth
	if auth == "" {
		auth = AuthSimple
	}
	push := o.Push
	if push == "" {
		push = PushOff
	}
	return fmt.Sprintf("tuya.Options{Account:%q AccessID:%q AccessSecret:%s Endpoint:%q Region:%q UserID:%q Auth:%s Push:%s PushURL:%q StateDir:%q ScaleOverrides:%d}",
		o.Account, o.AccessID, secret, o.Endpoint, o.Region, o.UserID, auth, push, o.PushURL, o.StateDir, len(o.ScaleOverrides))
}

// GoString is like String, so that %#v does not print the secret either.
func (o Options) GoString() string { return o.String() }

// regionEndpoints are the data centres of Tuya's Request Structure page
// (reference §3).
var regionEndpoints = map[string]string{
	"cn":   "https://openapi.tuyacn.com",
	"us":   "https://openapi.tuyaus.com",
	"us-e": "https://openapi-ueaz.tuyaus.com",
	"eu":   "https://openapi.tuyaeu.com",
	"eu-w": "https://openapi-weaz.tuyaeu.com",
	"in":   "https://openapi.tuyain.com",
}

// Regions lists the data centre codes RegionEndpoint knows, in a stable
// order.
var Regions = []string{"cn", "us", "us-e", "eu", "eu-w", "in"}

// RegionEndpoint returns the OpenAPI base URL of a data centre: cn
// (China), us (Western America), us-e (Eastern America), eu (Central
// Europe), eu-w (Western Europe) or in (India). Case and surrounding space
// are ignored.
func RegionEndpoint(region string) (string, error) {
	if u, ok := regionEndpoints[strings.ToLower(strings.TrimSpace(region))]; ok {
		return u, nil
	}
	return "", fmt.Errorf("tuya: unknown data centre %q (one of %s)", region, strings.Join(Regions, ", "))
}

// baseURL resolves and checks the endpoint: http(s)://host[:port][/path]
// without user info, query or fragment; a trailing slash is dropped.
func baseURL(endpoint, region string) (string, error) {
	raw := strings.TrimSpace(endpoint)
	if raw == "" {
		if strings.TrimSpace(region) == "" {
			return "", fmt.Errorf("set a region (one of %s) or an endpoint", strings.Join(Regions, ", "))
		}
		return RegionEndpoint(region)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("endpoint %q: want http(s)://host[:port] without user info or query", httpx.RedactURL(raw))
	}
	return strings.TrimSuffix((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), "/"), nil
}
