// Package tuyatest is a fake Tuya cloud (OpenAPI of a cloud project) for
// tests and for the `kasa2mqtt demo` command. It serves the API over
// httptest on 127.0.0.1 and enforces what the real cloud is known to
// enforce (see the project's tuya-cloud-api reference): the HMAC-SHA256
// request signature over method, body hash, Signature-Headers and the
// sorted decoded query (wrong sign → 1004), a t header within ±15 minutes
// of its own clock (else 1013), access tokens that expire (2 hours by
// default), single-use refresh tokens whose use kills the old pair (old
// access token → 1010), paged device lists, specifications with scales,
// batch status of at most 20 devices, commands that change the simulated
// devices, and add_ele deltas: each status read returns the energy used
// since the previous read, in units of 10^-scale kWh.
//
// Knobs (FailNext, FailHTTP, Hang, SetQuotaExhausted, SetClockOffset, …)
// script failures. Knob methods that name a device or project panic when it
// is unknown: that is a bug in the calling test or demo, not a runtime
// condition.
//
// # Served endpoints
//
//	GET  /v1.0/token?grant_type=1
//	GET  /v1.0/token?grant_type=2&code=…          (codes from AuthorizeCode)
//	GET  /v1.0/token/{refresh_token}
//	GET  /v1.0/iot-01/associated-users/devices?size=…&last_row_key=…
//	GET  /v1.0/users/{uid}/devices?page_no=…&page_size=…
//	GET  /v1.0/iot-03/devices/{id}/specification
//	GET  /v1.0/iot-03/devices/status?device_ids=a,b,…
//	POST /v1.0/iot-03/devices/{id}/commands
//
// # Choices where the real cloud is undocumented
//
//   - An unknown client_id answers 1005, a sign_method other than
//     HMAC-SHA256 or a wrong sign 1004, a missing or malformed t 1013.
//   - A business call without access_token answers 1002, an unknown token
//     1011, an expired or superseded one 1010. A refresh token that is
//     unknown answers 1011, one already used 1012.
//   - A bad authorization code answers 1003 ("invalid code", as the token
//     page lists it); each code works once.
//   - The simple-mode token's uid is a project uid, not the device owner's
//     (reference §2.2); a code-mode token's uid is the linked app user's,
//     UserID(accessID), which /v1.0/users/{uid}/devices requires (else
//     1106).
//   - Batch status: no ids 1100, more than 20 ids 1101, an id not in the
//     project 1106. Offline devices are left out of the answer; when every
//     requested device is offline the answer is 2001. Commands to an
//     offline device answer 2001, an unknown code or a wrongly typed value
//     (an Enum value the data point lacks, a colour that is not
//     {"h","s","v"}) 2008, a number outside the specification's range
//     1101 ("params range invalid", which real commands have been seen to
//     answer); a call is checked whole before any command is applied.
//   - Pages of the associated-users list are min(size, SetPageSize) rows
//     (default 20) and last_row_key is opaque; /v1.0/users/{uid}/devices
//     pages are exactly page_size (default 100) rows. The list's status shows add_ele as 0, so
//     listing never consumes energy.
//   - An unknown path, or a known path with the wrong method, answers 1108.
//
// # Devices
//
// Device ids are "bf" plus 18 hex digits derived (SHA-1) from the project
// and the name. Strip outlets are not cloud devices: AddStrip returns, for
// convenience, the ids the tuya provider gives them, "<strip id>_switch_N".
// Metered plugs report cur_voltage 230.0 V (scale 1), cur_power in W (scale
// 1), cur_current in mA (scale 0) and add_ele in kWh (scale 3) unless
// SetSpecScale makes the specification lie about a scale (the device keeps
// encoding with the true one).
//
// Lights (AddLight, LightKind) have Tuya's standard light data points with
// their ranges in the specification; a colour is reported as a JSON string
// holding {"h","s","v"}, as the cloud does, and taken in commands as that
// string or as the object.
//
// Lights (AddLight, LightKind) have Tuya's standard light data points with
// their ranges in the specification; a colour is reported as a JSON string
// holding {"h","s","v"}, as the cloud does, and taken as that string or
// as the object.
//
// # Concurrency
//
// A Server is safe for concurrent use: every request and knob holds one
// mutex (hung requests wait outside it), so the simulation is deterministic
// for a given call sequence. Tokens and ids come from counters and SHA-1,
// never from randomness.
package tuyatest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

// DefaultTokenTTL is the validity of issued access tokens.
const DefaultTokenTTL = 2 * time.Hour

// DefaultPageSize is the most rows a device-list page holds.
const DefaultPageSize = 20

// TimeTolerance is how far a request's t may be from the fake's clock.
const TimeTolerance = 15 * time.Minute

// Server is a fake Tuya cloud. Create it with NewServer and Close it when
// done.
type Server struct {
	ts        *httptest.Server
	client    *http.Client
	closeOnce sync.Once
	closing   chan struct{}

	mu       sync.Mutex
	projects map[string]*project
	devices  map[string]*device
	order    []string // device ids in insertion order
	access   map[string]*pair
	refresh  map[string]*pair
	codes    map[string]string // authorization code -> access id
	seq      int
	ttl      time.Duration
	pageSize int
	offset   time.Duration
	quota    bool
	failNext []*failRule
	failHTTP failure
	hang     int
	calls    []Request
	foreign  []string

	// latency and gate (faults.go) and hostile, the RewriteNext rules
	// (hostile.go), have their own mutexes: mu does not guard them.
	latency httpfault.Latency
	gate    httpfault.Gate
	hostile httpfault.Rewrites
}

type project struct {
	accessID string
	secret   string
	uid      string // the linked app user
	svcUID   string // the uid of simple-mode tokens
	msg      *msgService
}

// otherUID is the uid of the second app account linked to the project
// (the owner of the devices of SetOtherUser).
func (p *project) otherUID() string { return "ay" + hash("other-user/" + p.accessID)[:18] }

// pair is an issued access token and refresh token.
type pair struct {
	project     string
	uid         string
	access      string
	refresh     string
	expires     time.Time
	expired     bool // ExpireTokens
	superseded  bool // refreshed: both tokens dead
	refreshUsed bool
}

type failRule struct {
	prefix string
	n      int
	code   int
}

type failure struct {
	n      int
	status int
}

// Request is one request the server received, for assertions.
type Request struct {
	// Method and Path as received; Query decoded.
	Method string
	Path   string
	Query  map[string][]string
	// Code is the envelope code answered (0 for success, -1 for an HTTP
	// error or a hang).
	Code int
	// At is when the request arrived (before any latency wait).
	At time.Time
}

// NewServer starts a fake cloud on http://127.0.0.1:<port>.
func NewServer() *Server {
	s := &Server{
		closing:  make(chan struct{}),
		projects: map[string]*project{},
		devices:  map[string]*device{},
		access:   map[string]*pair{},
		refresh:  map[string]*pair{},
		codes:    map[string]string{},
		ttl:      DefaultTokenTTL,
		pageSize: DefaultPageSize,
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.client = &http.Client{Transport: &loopbackOnly{next: s.ts.Client().Transport, s: s}}
	return s
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234", to use as the
// provider's endpoint.
func (s *Server) URL() string { return s.ts.URL }

// Client returns an HTTP client for the server. It refuses (and records,
// see ForeignHosts) every request to a host that is not loopback, so code
// under test can never reach the network through it.
func (s *Server) Client() *http.Client { return s.client }

// Close releases hung requests and shuts the server down. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		for _, p := range s.projects {
			if p.msg != nil && p.msg.conn != nil {
				p.msg.conn.close()
			}
		}
		s.mu.Unlock()
		s.ts.Close()
	})
}

// AddProject creates a cloud project with its Access ID and Access
// Secret, or changes the secret of an existing one.
func (s *Server) AddProject(accessID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[accessID]; p != nil {
		p.secret = secret
		return
	}
	s.projects[accessID] = &project{
		accessID: accessID,
		secret:   secret,
		uid:      "ay" + hash("user/" + accessID)[:18],
		svcUID:   "bay" + hash("service/" + accessID)[:17],
	}
}

// UserID returns the uid of the app account linked to the project (the
// value of a tuya account's user_id, and a code-mode token's uid).
func (s *Server) UserID(accessID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustProject(accessID).uid
}

// AddPlug adds a socket (category cz) with one switch, switch_1, and
// returns its id. A metered plug also has cur_power, cur_voltage,
// cur_current and add_ele. The plug starts online and off.
func (s *Server) AddPlug(accessID, name string, metered bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.newDevice(accessID, name, "cz", "Smart Plug", []string{"switch_1"})
	if metered {
		d.metered = true
		d.productName = "Smart Plug with Energy Monitoring"
	}
	d.productID = productID(d.category, d.productName)
	return d.id
}

// AddPowerPlug adds a metered socket (category cz) whose product reports
// only cur_power and add_ele, without cur_voltage and cur_current (the
// metering data points are each optional in Tuya's standard instruction
// set, and such products exist), and returns its id. It starts online
// and off.
func (s *Server) AddPowerPlug(accessID, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.newDevice(accessID, name, "cz", "Smart Plug with Power Monitoring", []string{"switch_1"})
	d.metered = true
	d.lacks = map[string]bool{"cur_voltage": true, "cur_current": true}
	return d.id
}

// AddSwitch adds a wall switch (category kg) with the single code
// "switch" and returns its id.
func (s *Server) AddSwitch(accessID, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newDevice(accessID, name, "kg", "Wi-Fi Switch", []string{"switch"}).id
}

// AddStrip adds a power strip (category pc) with switch_1..switch_<gangs>
// and returns its id and the ids the tuya provider gives its outlets
// ("<id>_switch_N").
func (s *Server) AddStrip(accessID, name string, gangs int) (id string, gangIDs []string) {
	if gangs < 1 || gangs > 9 {
		panic(fmt.Sprintf("tuyatest: AddStrip with %d gangs", gangs))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var codes []string
	for i := 1; i <= gangs; i++ {
		codes = append(codes, fmt.Sprintf("switch_%d", i))
	}
	d := s.newDevice(accessID, name, "pc", fmt.Sprintf("Power Strip %d", gangs), codes)
	for _, c := range codes {
		gangIDs = append(gangIDs, d.id+"_"+c)
	}
	return d.id, gangIDs
}

// AddUnsupported adds a device of another category (e.g. "xdd", a
// ceiling light with switch_led) that the provider lists but does not
// bridge.
func (s *Server) AddUnsupported(accessID, name, category string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newDevice(accessID, name, category, "Smart Light", []string{"switch_led"}).id
}

// SetOtherUser moves a device to a second app account linked to the
// project: the project's list of its associated users' devices and the
// message service still include it, the list of the project's user (the
// uid of UserID, a tuya account's user_id) leaves it out.
func (s *Server) SetOtherUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustDevice(id).otherUser = true
}

// RemoveDevice takes a device off its project: lists leave it out, and
// requests that name it answer as for an id outside the project.
func (s *Server) RemoveDevice(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishEvent(s.mustDevice(id), "delete", "deviceDelete", nil)
	delete(s.devices, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
}

// SetOnline sets a device's connectivity.
func (s *Server) SetOnline(id string, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	if d.online == online {
		return
	}
	d.online = online
	if online {
		s.publishEvent(d, "online", "deviceOnline", nil)
	} else {
		s.publishEvent(d, "offline", "deviceOffline", nil)
	}
}

// SetPower sets the load of a metered plug in watts: while a switch is on
// it reports cur_power = watts, cur_current = watts / 230 V (in mA) and
// Tick accumulates the energy.
func (s *Server) SetPower(id string, watts float64) {
	if watts < 0 || math.IsNaN(watts) || math.IsInf(watts, 0) {
		panic(fmt.Sprintf("tuyatest: SetPower(%v)", watts))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	if !d.metered {
		panic(fmt.Sprintf("tuyatest: device %s is not metered", id))
	}
	d.load = watts
	if d.online {
		s.publishStatus(d, d.meter())
	}
}

// Tick lets d pass for energy: every online metered plug that is on adds
// load × d to the energy its next status read reports; once a consumer
// subscribed to the project's message service, the plug instead reports
// it at once as one pushed add_ele report (and its status reads report
// only what is left). The fake's clock is not moved (see SetClockOffset).
func (s *Server) Tick(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.order {
		dv := s.devices[id]
		if dv.metered && dv.online {
			dv.pendingKWh += dv.power() * d.Hours() / 1000
			if s.projects[dv.project].msg.live() {
				if ele := dv.takeEnergy(); ele > 0 {
					s.publishStatus(dv, []dpValue{{"add_ele", ele}})
				}
			}
		}
	}
}

// Switch reports the state of a device's switch code ("switch_1", …).
func (s *Server) Switch(id, code string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	on, ok := d.switches[code]
	if !ok {
		panic(fmt.Sprintf("tuyatest: device %s has no %s", id, code))
	}
	return on
}

// SetSwitch sets a device's switch code, as a button press or the app
// would; a change is published to the message service.
func (s *Server) SetSwitch(id, code string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	if _, ok := d.switches[code]; !ok {
		panic(fmt.Sprintf("tuyatest: device %s has no %s", id, code))
	}
	if d.switches[code] == on {
		return
	}
	d.switches[code] = on
	if d.online {
		s.publishStatus(d, append([]dpValue{{code, on}}, d.meter()...))
	}
}

// SetSpecScale makes the device's specification advertise scale for code
// while the device keeps encoding with its true scale: a wrong spec.
func (s *Server) SetSpecScale(id, code string, scale int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	if _, ok := d.trueScale[code]; !ok {
		panic(fmt.Sprintf("tuyatest: device %s has no scaled data point %s", id, code))
	}
	d.specScale[code] = scale
}

// ExpireTokens makes every access token issued so far answer 1010.
// Refresh tokens stay valid; tokens issued later are valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.access {
		p.expired = true
	}
}

// SetTokenTTL sets the validity of tokens issued from now on.
func (s *Server) SetTokenTTL(d time.Duration) {
	if d < time.Second {
		panic("tuyatest: token TTL below 1s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// SetPageSize sets the most rows per device-list page (at least 1).
func (s *Server) SetPageSize(n int) {
	if n < 1 {
		panic("tuyatest: page size below 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetClockOffset sets the fake's clock to real time + d. It checks request
// times, stamps answers and expires tokens by this clock, so a positive d
// simulates a host whose clock is d behind, and moving it forward ages the
// tokens.
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

// Now returns the fake's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// SetQuotaExhausted makes every signed request answer 28841004 ("Your
// quota of Trial Edition is used up") while on.
func (s *Server) SetQuotaExhausted(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = on
}

// FailNext makes the next n correctly signed requests whose path starts
// with pathPrefix answer the envelope code, before the token and the route
// are checked. Rules are tried in the order they were added; a later rule
// for the same prefix replaces the earlier one.
func (s *Server) FailNext(pathPrefix string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.failNext {
		if r.prefix == pathPrefix {
			r.n, r.code = n, code
			return
		}
	}
	s.failNext = append(s.failNext, &failRule{prefix: pathPrefix, n: n, code: code})
}

// FailHTTP makes the next n requests fail with HTTP status.
func (s *Server) FailHTTP(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failHTTP = failure{n: n, status: status}
}

// Hang makes the next n requests hang until their context ends (the
// client gives up) or the server closes.
func (s *Server) Hang(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = n
}

// AuthorizeCode returns a one-time authorization code for the project, as
// the authorization page would after a user approved it. GET
// /v1.0/token?grant_type=2&code=<code> accepts it once.
func (s *Server) AuthorizeCode(accessID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustProject(accessID)
	s.seq++
	code := hash(fmt.Sprintf("code/%s/%d", accessID, s.seq))[:32]
	s.codes[code] = accessID
	return code
}

// Calls returns how many requests arrived whose path starts with
// pathPrefix ("" counts all), failed ones included.
func (s *Server) Calls(pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.calls {
		if strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// Answers returns how many requests were answered with envelope code
// (0: success).
func (s *Server) Answers(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.calls {
		if r.Code == code {
			n++
		}
	}
	return n
}

// Requests returns every request received since the start or ResetCalls.
// Token paths are recorded as "/v1.0/token/{refresh_token}".
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the recorded requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Secrets returns every secret the fake knows: project secrets, issued
// access and refresh tokens, authorization codes and device local keys, so
// that tests can check none of them leaks into logs or errors.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.projects {
		out = append(out, p.secret)
	}
	for t := range s.access {
		out = append(out, t)
	}
	for t := range s.refresh {
		out = append(out, t)
	}
	for c := range s.codes {
		out = append(out, c)
	}
	for _, d := range s.devices {
		out = append(out, d.localKey)
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

func (s *Server) now() time.Time { return time.Now().Add(s.offset) }

func (s *Server) mustProject(accessID string) *project {
	p := s.projects[accessID]
	if p == nil {
		panic(fmt.Sprintf("tuyatest: unknown project %q", accessID))
	}
	return p
}

func (s *Server) mustDevice(id string) *device {
	d := s.devices[id]
	if d == nil {
		panic(fmt.Sprintf("tuyatest: unknown device %q", id))
	}
	return d
}

// issue creates a token pair for a project.
func (s *Server) issue(accessID, uid string) *pair {
	s.seq++
	p := &pair{
		project: accessID,
		uid:     uid,
		access:  hash(fmt.Sprintf("access/%s/%d", accessID, s.seq))[:32],
		refresh: hash(fmt.Sprintf("refresh/%s/%d", accessID, s.seq))[:32],
		expires: s.now().Add(s.ttl),
	}
	s.access[p.access] = p
	s.refresh[p.refresh] = p
	return p
}

func hash(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func productID(category, name string) string {
	return hash("product/" + category + "/" + name)[:16]
}

// loopbackOnly is the Client transport: loopback hosts only.
type loopbackOnly struct {
	next http.RoundTripper
	s    *Server
}

func (t *loopbackOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if host != "127.0.0.1" && host != "::1" && host != "localhost" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		t.s.mu.Lock()
		t.s.foreign = append(t.s.foreign, req.URL.Host)
		t.s.mu.Unlock()
		return nil, fmt.Errorf("tuyatest: refusing request to non-loopback host %q", host)
	}
	return t.next.RoundTrip(req)
}
