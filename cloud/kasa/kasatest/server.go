// Package kasatest is a fake TP-Link Kasa cloud (V1 by NewServer and
// NewServerTLS, V2 by NewServerV2: see v2.go) for tests and for the
// `kasa2mqtt demo` command. It serves the cloud API over httptest on
// 127.0.0.1 and enforces the protocol the real cloud is known to enforce
// (see the project's kasa-cloud-api reference): POST with a JSON body,
// {"method","params"} envelopes, a terminalUUID key on login, tokens,
// refresh tokens, device ownership, offline devices, requestData as a JSON
// string and responseData returned as a JSON string. Simulated devices
// (plugs, metering plugs of both emeter generations, power strips, wall
// dimmers, bulbs and light strips: light.go) answer system, emeter and
// light-service requests the way real firmware does, and refuse the
// services their kind does not have (the bulb service on a strip answers
// -2001, on a dimmer "module not support").
//
// Knobs (ExpireTokens, FailNext, FailHTTP, Hang, SetOnline, …) script failures.
// Knob methods that name a device panic when the id is unknown: that is a
// bug in the calling test or demo, not a runtime condition.
//
// # Choices where the real cloud is undocumented
//
//   - A request that is not POST gets HTTP 405; a Content-Type other than
//     application/json gets HTTP 415.
//   - A body that is not a JSON object, or a non-string method, or params
//     that are not an object, get error_code -10100 ("JSON format error").
//   - A missing or unknown method gets -20103.
//   - A missing required parameter gets -20104 ("Parameter doesn't exist"),
//     and so does a requestData that is not a string (an object).
//   - A missing token or an expired one gets -20651, an unknown one -20652;
//     the token is accepted from params.token or the ?token= query.
//   - A requestData string that is not a JSON object gets -10100.
//   - Devices added with AddRawDevice are not simulated: passthrough to them
//     answers -20571, as the real cloud does for Tapo devices.
//   - Inside the device: an unknown module answers
//     {"err_code":-1,"err_msg":"module not support"}, an unknown method
//     {"err_code":-2,"err_msg":"member not support"}, bad arguments -3, and
//     a context naming outlets the device does not have -14.
//
// # Concurrency
//
// A Server is safe for concurrent use: every request and knob holds one
// mutex, so the simulation is deterministic for a given call sequence.
// Tokens and ids are derived from counters and SHA-1, never from randomness.
package kasatest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

// Server is a fake Kasa cloud. Create it with NewServer or NewServerTLS and
// Close it when done.
type Server struct {
	ts        *httptest.Server
	client    *http.Client
	closeOnce sync.Once

	mu        sync.Mutex
	accounts  map[string]*account // by lower-case user name
	devices   map[string]*device  // physical and raw devices by id
	order     []string            // device ids in insertion order
	tokens    map[string]*grant
	refreshes map[string]*grant
	seq       int
	failNext  map[string]*failure
	failHTTP  failure
	failDev   map[string]int // "<id>/<module>.<method>" -> err_code, one-shot
	calls     map[string]int
	requests  []Request
	foreign   []string
	lastLogin *LoginRecord
	relayLog  map[string][]bool // successful set_relay_state values by plug/outlet id
	faults    faults

	// hostile holds the RewriteNext rules (hostile.go); it has its own
	// mutex, s.mu does not guard it.
	hostile httpfault.Rewrites

	// v2 is the V2 mode (v2.go); nil for a V1 server.
	v2 *v2State
}

type account struct {
	user     string
	password string
	twoFA    bool
}

// grant is an issued token or refresh token.
type grant struct {
	user     string
	terminal string
	expired  bool
}

type failure struct {
	n    int
	code int // error_code, or HTTP status for failHTTP
}

// Request is one request the server received, for assertions.
type Request struct {
	// Method is the envelope method ("" when there was none).
	Method string
	// Host is the Host header the request was sent to.
	Host string
	// Path is the URL path (V2 mode: the call, under RegionPath or not).
	Path string
	// Token is the token the request carried (params.token or ?token=).
	Token string
	// TokenInQuery is true when the token came in the URL query.
	TokenInQuery bool
	// DeviceID and RequestData are the passthrough parameters.
	DeviceID    string
	RequestData string
	// At is when the request arrived (before any SetLatency wait).
	At time.Time
}

// LoginRecord is the last login request, as received.
type LoginRecord struct {
	AppType            string
	Username           string
	Password           string
	TerminalUUID       string
	RefreshTokenNeeded bool
}

// NewServer starts a fake cloud on http://127.0.0.1:<port>.
func NewServer() *Server { return start(httptest.NewServer) }

// NewServerTLS starts a fake cloud on https://127.0.0.1:<port> with a
// self-signed certificate that Client trusts.
func NewServerTLS() *Server { return start(httptest.NewTLSServer) }

func start(newServer func(http.Handler) *httptest.Server) *Server {
	s := newState()
	s.ts = newServer(http.HandlerFunc(s.serveHTTP))
	s.client = s.loopbackClient()
	return s
}

func newState() *Server {
	return &Server{
		accounts:  map[string]*account{},
		devices:   map[string]*device{},
		tokens:    map[string]*grant{},
		refreshes: map[string]*grant{},
		failNext:  map[string]*failure{},
		failDev:   map[string]int{},
		calls:     map[string]int{},
	}
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234". Every
// simulated device's appServerUrl is this URL unless SetAppServerURL
// changed it.
func (s *Server) URL() string { return s.ts.URL }

// Client returns an HTTP client for the server. It refuses (and records,
// see ForeignHosts) every connection to a host that is not loopback, so
// code under test can never reach the network through it. Its transport is
// an *http.Transport, so a V2 account can copy it with a certificate pool
// of its own (the client itself trusts the server's certificate).
func (s *Server) Client() *http.Client { return s.client }

// Close releases hung requests (see Hang) and shuts the server down. It
// is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.faults.release() // hung requests first: ts.Close waits for them
		s.ts.Close()
	})
}

// AddAccount creates an account, or sets the password of an existing one.
// User names are compared case-insensitively, passwords exactly.
func (s *Server) AddAccount(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(user)
	if a := s.accounts[key]; a != nil {
		a.password = password
		return
	}
	s.accounts[key] = &account{user: user, password: password}
}

// SetPassword changes an account's password (issued tokens stay valid).
func (s *Server) SetPassword(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustAccount(user).password = password
}

// Require2FA switches two-step verification: while on, V1 logins of the
// account fail with -23003 ("App version is too old"), refreshes still work.
func (s *Server) Require2FA(user string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustAccount(user).twoFA = on
}

// ExpireTokens makes every token issued so far answer -20651. Tokens issued
// later (by login or refreshToken) are valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.tokens {
		g.expired = true
	}
}

// ExpireRefreshTokens makes every refresh token issued so far answer -20655.
func (s *Server) ExpireRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refreshes {
		g.expired = true
	}
}

// FailNext makes the next n calls of method ("login", "refreshToken",
// "getDeviceList", "passthrough") fail with error_code code, before any
// other check. A later FailNext for the same method replaces it.
func (s *Server) FailNext(method string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[method] = &failure{n: n, code: code}
}

// FailHTTP makes the next n requests (of any method) fail with HTTP status.
func (s *Server) FailHTTP(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failHTTP = failure{n: n, code: status}
}

// FailDeviceNext makes the next module.method request to device id (a
// physical device, not an outlet) answer {"err_code":code,"err_msg":…}
// inside a successful envelope, as a device refusing a command does.
func (s *Server) FailDeviceNext(id, module, method string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPhysical(id)
	s.failDev[id+"/"+module+"."+method] = code
}

// Calls returns how many requests of method arrived, failed ones included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// ResetCalls zeroes the call counters and forgets the recorded requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.requests = nil
}

// Requests returns every request received since the start or ResetCalls.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// LastLogin returns the last login request as received.
func (s *Server) LastLogin() (LoginRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastLogin == nil {
		return LoginRecord{}, false
	}
	return *s.lastLogin, true
}

// Secrets returns every token and refresh token issued so far, so that
// tests can check none of them leaks into logs or errors.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.tokens {
		out = append(out, t)
	}
	for t := range s.refreshes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ForeignHosts returns the hosts Client refused because they are not
// loopback.
func (s *Server) ForeignHosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.foreign)
}

func (s *Server) mustAccount(user string) *account {
	a := s.accounts[strings.ToLower(user)]
	if a == nil {
		panic(fmt.Sprintf("kasatest: unknown account %q", user))
	}
	return a
}

// issue creates a deterministic secret such as "0000002a-5f0c…".
func (s *Server) issue(kind, user string) string {
	s.seq++
	sum := sha1.Sum(fmt.Appendf(nil, "%s/%s/%d", kind, user, s.seq))
	return fmt.Sprintf("%08x-%s", s.seq, hex.EncodeToString(sum[:12]))
}

// idFor derives a 40 upper-hex device id from the alias (SHA-1), adding a
// counter when the alias was used before.
func (s *Server) idFor(alias string) string {
	for n := 0; ; n++ {
		seed := alias
		if n > 0 {
			seed = fmt.Sprintf("%s#%d", alias, n)
		}
		sum := sha1.Sum([]byte(seed))
		id := strings.ToUpper(hex.EncodeToString(sum[:]))
		if _, taken := s.devices[id]; !taken {
			return id
		}
	}
}

// loopbackClient returns the Client: the server's own TLS trust, and a
// dialer that connects to loopback hosts only.
func (s *Server) loopbackClient() *http.Client {
	tr := s.ts.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = nil
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if host != "127.0.0.1" && host != "::1" && host != "localhost" {
			s.mu.Lock()
			s.foreign = append(s.foreign, host)
			s.mu.Unlock()
			return nil, fmt.Errorf("kasatest: refusing request to non-loopback host %q", host)
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// regTime is the fixed registration time reported by login.
var regTime = time.Date(2021, 3, 14, 15, 9, 26, 0, time.UTC).Format(time.DateTime)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kasatest: encode: %v", err))
	}
	return b
}
