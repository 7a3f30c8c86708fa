package kasatest

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Envelope error codes the fake answers with, and their messages.
const (
	codeJSONFormat       = -10100
	codeMethodNotFound   = -20103
	codeParamMissing     = -20104
	codeDeviceOffline    = -20571
	codeNotBound         = -20580
	codeAccountNotFound  = -20600
	codeWrongPassword    = -20601
	codeTokenExpired     = -20651
	codeTokenIncorrect   = -20652
	codeRefreshExpired   = -20655
	codeRefreshIncorrect = -20656
	codeAppVersionTooOld = -23003
)

var messages = map[int]string{
	codeJSONFormat:       "JSON format error",
	codeMethodNotFound:   "The method does not exist or is not available",
	codeParamMissing:     "Parameter doesn't exist",
	codeDeviceOffline:    "Device is offline",
	codeNotBound:         "Account is not binded to the device",
	codeAccountNotFound:  "Account not found",
	codeWrongPassword:    "Incorrect email or password",
	codeTokenExpired:     "Token expired",
	codeTokenIncorrect:   "Token incorrect",
	codeRefreshExpired:   "Refresh token expired",
	codeRefreshIncorrect: "Refresh token incorrect",
	codeAppVersionTooOld: "App version is too old",
	-20002:               "Request timeout",
	-20004:               "API rate limit exceeded",
	-20661:               "Account locked",
	-20675:               "Account login in other places",
	-10200:               "IP request out of rate limit",
	-10201:               "User request out of rate limit",
	codePermissionDenied: "Permission denied",
	codeWrongCode:        "Verification code error",
	codeCodeExpired:      "Verification code is ineffective",
	codeMFARequired:      "Please verify the MFA code",
}

const maxRequestBody = 1 << 20

// arrivedKey holds, in a request's context, when it arrived (Request.At).
type arrivedKey struct{}

func arrived(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivedKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), arrivedKey{}, time.Now()))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "unsupported media type", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !s.delay(r) {
		return
	}
	if s.v2 != nil {
		resp, status, method := s.handleV2(r, body)
		s.answer(w, r, resp, status, func(key string) bool { return key == "" || key == method })
		return
	}
	resp, status := s.handle(r, body)
	s.answer(w, r, resp, status, envelopeMethodIs(body))
}

// answer writes resp (or what a RewriteNext rule whose key matches makes
// of it), an HTTP error for a status other than 200, or holds a hung
// request.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, resp []byte, status int, match func(key string) bool) {
	if status == statusHang {
		s.hold(r)
		return
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	s.hostile.Write(w, match, resp) // RewriteNext (hostile.go)
}

// handle answers one envelope; a status other than 200 means an HTTP error.
func (s *Server) handle(r *http.Request, body []byte) ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()

	env, ok := object(body)
	if !ok {
		s.calls[""]++
		return apiError(codeJSONFormat), http.StatusOK
	}
	var method string
	if raw, present := env["method"]; present {
		if method, ok = str(raw); !ok {
			s.calls[""]++
			return apiError(codeJSONFormat), http.StatusOK
		}
	}
	params := map[string]json.RawMessage{}
	if raw, present := env["params"]; present && strings.TrimSpace(string(raw)) != "null" {
		if params, ok = object(raw); !ok {
			s.calls[method]++
			return apiError(codeJSONFormat), http.StatusOK
		}
	}
	s.calls[method]++

	rec := Request{Method: method, Host: r.Host, At: arrived(r)}
	if tok, ok := str(params["token"]); ok && tok != "" {
		rec.Token = tok
	} else if tok := r.URL.Query().Get("token"); tok != "" {
		rec.Token, rec.TokenInQuery = tok, true
	}
	if method == "passthrough" {
		rec.DeviceID, _ = str(params["deviceId"])
		rec.RequestData, _ = str(params["requestData"])
	}
	s.requests = append(s.requests, rec)

	if s.takeHang() {
		return nil, statusHang
	}
	if s.failHTTP.n > 0 {
		s.failHTTP.n--
		return nil, s.failHTTP.code
	}
	if f := s.failNext[method]; f != nil && f.n > 0 {
		f.n--
		return apiError(f.code), http.StatusOK
	}

	switch method {
	case "login":
		return s.login(params), http.StatusOK
	case "refreshToken":
		return s.refreshToken(params), http.StatusOK
	}
	return s.accountCall(method, params, rec.Token), http.StatusOK
}

// accountCall answers the token-authenticated envelope methods
// (getDeviceList, passthrough), the same in V1 and V2. s.mu is held.
func (s *Server) accountCall(method string, params map[string]json.RawMessage, token string) []byte {
	switch method {
	case "getDeviceList":
		user, code := s.authenticate(token)
		if code != 0 {
			return apiError(code)
		}
		return s.deviceList(user)
	case "passthrough":
		user, code := s.authenticate(token)
		if code != 0 {
			return apiError(code)
		}
		return s.passthrough(user, params)
	default:
		return apiError(codeMethodNotFound)
	}
}

func (s *Server) login(p map[string]json.RawMessage) []byte {
	r, ok := parseCredentials(p) // terminalUUID: any string, even empty, but the key must be there
	if !ok {
		return apiError(codeParamMissing)
	}
	s.lastLogin = r.record()
	a, refused := s.checkCredentials(r)
	switch {
	case refused != nil:
		return refused
	case a.twoFA:
		return apiError(codeAppVersionTooOld)
	}
	terminal, wantRefresh := r.terminal, r.wantRefresh
	result := s.loginResult(a.user, terminal, wantRefresh)
	result["riskDetected"], result["nickname"] = 0, ""
	return success(result)
}

// credentials are the account part of a login (V1, V2) or of a V2 code
// request.
type credentials struct {
	app, user, password, terminal string
	wantRefresh                   bool
}

// parseCredentials reads appType, cloudUserName, cloudPassword and
// terminalUUID (every key present, as a string; app and user not empty).
func parseCredentials(p map[string]json.RawMessage) (credentials, bool) {
	var r credentials
	var ok [4]bool
	r.app, ok[0] = str(p["appType"])
	r.user, ok[1] = str(p["cloudUserName"])
	r.password, ok[2] = str(p["cloudPassword"])
	r.terminal, ok[3] = str(p["terminalUUID"])
	r.wantRefresh = isTrue(p["refreshTokenNeeded"])
	return r, ok == [4]bool{true, true, true, true} && r.app != "" && r.user != ""
}

func (r credentials) record() *LoginRecord {
	return &LoginRecord{AppType: r.app, Username: r.user, Password: r.password, TerminalUUID: r.terminal, RefreshTokenNeeded: r.wantRefresh}
}

// checkCredentials returns the account of r, or the answer refusing it
// (unknown account, wrong password). s.mu is held.
func (s *Server) checkCredentials(r credentials) (*account, []byte) {
	a := s.accounts[strings.ToLower(r.user)]
	switch {
	case a == nil:
		return nil, apiError(codeAccountNotFound)
	case a.password != r.password:
		return nil, apiError(codeWrongPassword)
	}
	return a, nil
}

// loginResult issues a token (and a refresh token) to user's terminal and
// returns the result of a successful login. s.mu is held.
func (s *Server) loginResult(user, terminal string, withRefresh bool) map[string]any {
	token := s.issue("token", user)
	s.tokens[token] = &grant{user: strings.ToLower(user), terminal: terminal}
	result := map[string]any{
		"accountId":   hexOf("account/"+strings.ToLower(user), 8),
		"regTime":     regTime,
		"countryCode": "DE",
		"email":       user,
		"token":       token,
	}
	if withRefresh {
		rt := s.issue("refresh", user)
		s.refreshes[rt] = &grant{user: strings.ToLower(user), terminal: terminal}
		result["refreshToken"] = rt
	}
	return result
}

func (s *Server) refreshToken(p map[string]json.RawMessage) []byte {
	g, terminal, refused := s.checkRefresh(p)
	if refused != nil {
		return refused
	}
	token := s.issue("token", g.user)
	s.tokens[token] = &grant{user: g.user, terminal: terminal}
	return success(map[string]any{"token": token})
}

// checkRefresh checks a refreshToken request's parameters and refresh
// token; refused is the error answer when they do not pass. s.mu is held.
func (s *Server) checkRefresh(p map[string]json.RawMessage) (g *grant, terminal string, refused []byte) {
	app, ok1 := str(p["appType"])
	rt, ok2 := str(p["refreshToken"])
	terminal, ok3 := str(p["terminalUUID"])
	if !ok1 || !ok2 || !ok3 || app == "" || rt == "" {
		return nil, "", apiError(codeParamMissing)
	}
	g = s.refreshes[rt]
	switch {
	case g == nil || g.terminal != terminal:
		return nil, "", apiError(codeRefreshIncorrect)
	case g.expired:
		return nil, "", apiError(codeRefreshExpired)
	}
	return g, terminal, nil
}

// authenticate maps a token to its user, or to an error code.
func (s *Server) authenticate(token string) (string, int) {
	if token == "" {
		return "", codeTokenExpired
	}
	g := s.tokens[token]
	switch {
	case g == nil:
		return "", codeTokenIncorrect
	case g.expired:
		return "", codeTokenExpired
	}
	return g.user, 0
}

func (s *Server) deviceList(user string) []byte {
	list := []map[string]any{}
	for _, id := range s.order {
		if d := s.devices[id]; d != nil && d.owner == user {
			list = append(list, s.listRow(d))
		}
	}
	return success(map[string]any{"deviceList": list})
}

func (s *Server) passthrough(user string, p map[string]json.RawMessage) []byte {
	id, ok := str(p["deviceId"])
	if !ok || id == "" {
		return apiError(codeParamMissing)
	}
	requestData, ok := str(p["requestData"]) // an object is rejected like a missing string
	if !ok {
		return apiError(codeParamMissing)
	}
	d := s.devices[id]
	switch {
	case d == nil || d.owner != user:
		return apiError(codeNotBound)
	case !d.online || d.raw != nil:
		return apiError(codeDeviceOffline)
	}
	req, ok := object([]byte(requestData))
	if !ok {
		return apiError(codeJSONFormat)
	}
	resp := s.respond(d, req)
	return success(map[string]any{"responseData": string(mustJSON(resp))})
}

// respond runs a requestData on a simulated device.
func (s *Server) respond(d *device, req map[string]json.RawMessage) map[string]any {
	var targets []*outlet
	contextErr := false
	if raw, ok := req["context"]; ok {
		ids, ok := childIDs(raw)
		if !ok || len(ids) == 0 {
			contextErr = true
		}
		for _, id := range ids {
			o := d.outlet(id)
			if o == nil {
				contextErr = true
				break
			}
			targets = append(targets, o)
		}
	}
	resp := map[string]any{}
	for _, module := range slices.Sorted(maps.Keys(req)) {
		if module == "context" {
			continue
		}
		methods, ok := object(req[module])
		if ok && s.injectDeviceFailure(d, module, methods, resp) {
			continue
		}
		switch {
		case !ok:
			resp[module] = deviceErr(-3, "invalid argument")
		case contextErr:
			resp[module] = deviceErr(-14, "entry not exist")
		case module == "system":
			resp[module] = s.system(d, targets, methods)
		case module == "emeter":
			resp[module] = d.emeter(targets, methods)
		default:
			if ans, ok := s.lightModule(d, module, methods); ok {
				resp[module] = ans
				continue
			}
			resp[module] = deviceErr(-1, "module not support")
		}
	}
	return resp
}

// injectDeviceFailure answers a module with a FailDeviceNext error when one
// is pending for any of its methods.
func (s *Server) injectDeviceFailure(d *device, module string, methods map[string]json.RawMessage, resp map[string]any) bool {
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		key := d.id + "/" + module + "." + name
		if code, ok := s.failDev[key]; ok {
			delete(s.failDev, key)
			resp[module] = map[string]any{name: deviceErr(code, "injected failure")}
			return true
		}
	}
	return false
}

func (s *Server) system(d *device, targets []*outlet, methods map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		arg, _ := object(methods[name])
		switch {
		case name == "get_sysinfo":
			out[name] = d.sysinfo()
			continue
		case d.isBulb(): // relay, LED and alias live elsewhere on a bulb
			out[name] = deviceErr(-2, "member not support")
			continue
		}
		switch name {
		case "set_relay_state":
			on, ok := flag(arg["state"])
			if !ok {
				out[name] = deviceErr(-3, "invalid argument")
				continue
			}
			switch {
			case len(targets) > 0:
				for _, o := range targets {
					o.setOn(on)
				}
			case d.strip(): // no context: every outlet
				for _, o := range d.outlets {
					o.setOn(on)
				}
			default:
				d.setRelay(on)
			}
			s.noteRelay(d, targets, on)
			out[name] = ok0()
		case "set_led_off":
			off, ok := flag(arg["off"])
			if !ok {
				out[name] = deviceErr(-3, "invalid argument")
				continue
			}
			d.ledOff = off
			out[name] = ok0()
		case "reboot":
			var delay int
			if err := json.Unmarshal(arg["delay"], &delay); arg["delay"] != nil && (err != nil || delay < 0) {
				out[name] = deviceErr(-3, "invalid argument")
				continue
			}
			d.reboots++
			out[name] = ok0()
		case "set_dev_alias":
			alias, ok := str(arg["alias"])
			if !ok || alias == "" {
				out[name] = deviceErr(-3, "invalid argument")
				continue
			}
			if len(targets) > 0 {
				for _, o := range targets {
					o.alias = alias
				}
			} else {
				d.alias = alias
			}
			out[name] = ok0()
		default:
			out[name] = deviceErr(-2, "member not support")
		}
	}
	return out
}

func (d *device) emeter(targets []*outlet, methods map[string]json.RawMessage) map[string]any {
	if !d.metered {
		return deviceErr(-1, "module not support")
	}
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		switch {
		case name != "get_realtime":
			out[name] = deviceErr(-2, "member not support")
		case d.strip() && len(targets) != 1:
			out[name] = deviceErr(-3, "invalid argument: one context child_id required")
		case d.strip():
			o := targets[0]
			rt := d.realtime(o.on, o.loadW, o.total)
			rt["slot_id"] = slices.Index(d.outlets, o)
			out[name] = rt
		default:
			out[name] = d.realtime(d.relay, d.loadW, d.total)
		}
	}
	return out
}

func success(result any) []byte {
	return mustJSON(map[string]any{"error_code": 0, "result": result})
}

func apiError(code int) []byte {
	msg := messages[code]
	if msg == "" {
		msg = "Unknown error"
	}
	return mustJSON(map[string]any{"error_code": code, "msg": msg})
}

func deviceErr(code int, msg string) map[string]any {
	return map[string]any{"err_code": code, "err_msg": msg}
}

func ok0() map[string]any { return map[string]any{"err_code": 0} }

func object(raw []byte) (map[string]json.RawMessage, bool) {
	t := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(t, "{") {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func str(raw json.RawMessage) (string, bool) {
	t := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(t, `"`) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// flag decodes a 0/1 argument.
func flag(raw json.RawMessage) (bool, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return false, false
	}
	switch n.String() {
	case "0":
		return false, true
	case "1":
		return true, true
	}
	return false, false
}

func isTrue(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "true" || t == `"true"`
}

func childIDs(raw json.RawMessage) ([]string, bool) {
	ctx, ok := object(raw)
	if !ok {
		return nil, false
	}
	var ids []string
	if err := json.Unmarshal(ctx["child_ids"], &ids); err != nil {
		return nil, false
	}
	return ids, true
}
