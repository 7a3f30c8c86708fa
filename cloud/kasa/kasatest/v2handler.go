package kasatest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// V2 answers' codes beyond the V1 ones.
const (
	codePermissionDenied = -20001
	codeWrongCode        = -20607
	codeCodeExpired      = -20676
	codeMFARequired      = -20677
)

// The V2 query every request must carry, with its fixed values ("" means
// any non-empty value).
var v2Query = map[string]string{
	"appName": "Kasa_Android_Mix", "appVer": "", "netType": "", "termID": "", "ospf": "",
	"brand": "", "locale": "", "model": "", "termName": "", "termMeta": "",
}

// handleV2 answers one V2 request: it checks the query and the signature,
// then routes by path. method names the call for Calls, Requests and
// RewriteNext.
func (s *Server) handleV2(r *http.Request, body []byte) (resp []byte, status int, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	path := r.URL.EscapedPath()
	route, account := strings.CutPrefix(path, RegionPath)
	if !account {
		route = path
	}
	env, isObject := object(body)
	switch {
	case account && route == "/":
		if isObject {
			method, _ = str(env["method"])
		}
	case strings.HasPrefix(route, "/api/v2/account/"):
		method = strings.TrimPrefix(route, "/api/v2/account/")
	}
	s.calls[method]++
	q := r.URL.Query()
	rec := Request{Method: method, Host: r.Host, Path: path}
	if tok := q.Get("token"); tok != "" {
		rec.Token, rec.TokenInQuery = tok, true
	}

	var params map[string]json.RawMessage
	if account && route == "/" && isObject {
		params, _ = object(env["params"])
		if method == "passthrough" {
			rec.DeviceID, _ = str(params["deviceId"])
			rec.RequestData, _ = str(params["requestData"])
		}
	}
	s.requests = append(s.requests, rec)

	if s.takeHang() {
		return nil, statusHang, method
	}
	if s.failHTTP.n > 0 {
		s.failHTTP.n--
		return nil, s.failHTTP.code, method
	}
	if !s.v2.signed(r, body, q) {
		s.v2.badSignatures++
		return s.v2.styled(apiError(codePermissionDenied)), http.StatusOK, method
	}
	if f := s.failNext[method]; f != nil && f.n > 0 {
		f.n--
		return s.v2.styled(apiError(f.code)), http.StatusOK, method
	}

	switch {
	case !account && route == "/api/v2/account/getAccountStatusAndUrl":
		resp = s.v2AccountStatus(env)
	case !account:
		return nil, http.StatusNotFound, method // the entry serves discovery only
	case route == "/":
		if !isObject {
			resp = apiError(codeJSONFormat)
		} else {
			resp = s.accountCall(method, params, rec.Token)
		}
	case route == "/api/v2/account/login":
		resp = s.v2Login(env, q.Get("termID"))
	case route == "/api/v2/account/refreshToken":
		resp = s.v2Refresh(env)
	case route == "/api/v2/account/getPushVC4TerminalMFA":
		resp = s.v2SendCode(env, 1)
	case route == "/api/v2/account/getEmailVC4TerminalMFA":
		resp = s.v2SendCode(env, 2)
	case route == "/api/v2/account/checkMFACodeAndLogin":
		resp = s.v2CheckCode(env, q.Get("termID"))
	default:
		return nil, http.StatusNotFound, method
	}
	return s.v2.styled(resp), http.StatusOK, method
}

// signed checks the request's V2 query, Content-MD5 (of the bytes
// received) and X-Authorization (Timestamp, Nonce, AccessKey, Signature,
// in that order, ", "-separated; Signature = hex HMAC-SHA1 of
// md5 "\n" timestamp "\n" nonce "\n" path).
func (v *v2State) signed(r *http.Request, body []byte, q url.Values) bool {
	for k, want := range v2Query {
		if got := q.Get(k); got == "" || (want != "" && got != want) {
			return false
		}
	}
	sum := md5.Sum(body)
	contentMD5 := base64.StdEncoding.EncodeToString(sum[:])
	if r.Header.Get("Content-Md5") != contentMD5 {
		return false
	}
	parts := strings.Split(r.Header.Get("X-Authorization"), ", ")
	if len(parts) != 4 {
		return false
	}
	vals := make([]string, 4)
	for i, name := range []string{"Timestamp", "Nonce", "AccessKey", "Signature"} {
		val, ok := strings.CutPrefix(parts[i], name+"=")
		if !ok || val == "" {
			return false
		}
		vals[i] = val
	}
	if vals[2] != v.accessKey {
		return false
	}
	mac := hmac.New(sha1.New, []byte(v.secretKey))
	mac.Write([]byte(contentMD5 + "\n" + vals[0] + "\n" + vals[1] + "\n" + r.URL.EscapedPath()))
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(vals[3]))
}

// styled rewrites an error answer in the configured style.
func (v *v2State) styled(resp []byte) []byte {
	var env struct {
		ErrorCode int             `json:"error_code"`
		Msg       string          `json:"msg"`
		Result    json.RawMessage `json:"result"`
	}
	if json.Unmarshal(resp, &env) != nil || env.ErrorCode == 0 {
		return resp
	}
	result := map[string]any{}
	_ = json.Unmarshal(env.Result, &result)
	switch v.style {
	case ErrorsOuter:
		out := map[string]any{"error_code": env.ErrorCode, "msg": env.Msg}
		if len(result) > 0 {
			out["result"] = result
		}
		return mustJSON(out)
	case ErrorsNestedString:
		result["errorCode"] = strconv.Itoa(env.ErrorCode)
	default:
		result["errorCode"] = env.ErrorCode
	}
	result["errorMsg"] = env.Msg
	return mustJSON(map[string]any{"error_code": 0, "result": result})
}

// apiErrorWith is an error answer that carries a result as well.
func apiErrorWith(code int, result map[string]any) []byte {
	msg := messages[code]
	if msg == "" {
		msg = "Unknown error"
	}
	return mustJSON(map[string]any{"error_code": code, "msg": msg, "result": result})
}

func (s *Server) v2AccountStatus(p map[string]json.RawMessage) []byte {
	app, ok1 := str(p["appType"])
	user, ok2 := str(p["cloudUserName"])
	if !ok1 || !ok2 || app != "Kasa_Android_Mix" || user == "" {
		return apiError(codeParamMissing)
	}
	if s.accounts[strings.ToLower(user)] == nil {
		return apiError(codeAccountNotFound)
	}
	return success(map[string]any{"appServerUrl": s.RegionURL(), "accountStatus": 0})
}

func (s *Server) v2Login(p map[string]json.RawMessage, termID string) []byte {
	r, ok := parseCredentials(p)
	if !ok || r.app != "Kasa_Android_Mix" || r.terminal == "" || r.terminal != termID {
		return apiError(codeParamMissing)
	}
	s.lastLogin = r.record()
	a, refused := s.checkCredentials(r)
	switch {
	case refused != nil:
		return refused
	case a.twoFA:
		id := s.issue("mfa", a.user)
		s.v2.processes[id] = &mfaProcess{user: strings.ToLower(a.user), terminal: r.terminal}
		key := "MFAProcessId"
		if s.v2.lowerProcessID {
			key = "mfaProcessId"
		}
		return apiErrorWith(codeMFARequired, map[string]any{key: id, "supportedMFATypes": []int{1, 2}})
	}
	return s.v2Tokens(a.user, r.terminal, r.wantRefresh)
}

// v2Tokens answers a V2 login with a token (and a refresh token).
func (s *Server) v2Tokens(user, terminal string, withRefresh bool) []byte {
	return success(s.loginResult(user, terminal, withRefresh))
}

// v2Refresh trades a refresh token for a new token and a new refresh
// token; the old refresh token is spent.
func (s *Server) v2Refresh(p map[string]json.RawMessage) []byte {
	g, terminal, refused := s.checkRefresh(p)
	if refused != nil {
		return refused
	}
	rt, _ := str(p["refreshToken"])
	delete(s.refreshes, rt)
	return s.v2Tokens(s.accounts[g.user].user, terminal, true)
}

// v2SendCode sends a verification code (push 1, e-mail 2) for user's
// terminal; the test reads it with MFACode.
func (s *Server) v2SendCode(p map[string]json.RawMessage, mfaType int) []byte {
	r, ok := parseCredentials(p)
	if !ok || r.terminal == "" {
		return apiError(codeParamMissing)
	}
	a, refused := s.checkCredentials(r)
	if refused != nil {
		return refused
	}
	terminal := r.terminal
	s.seq++
	sum := sha1.Sum(fmt.Appendf(nil, "code/%s/%d", a.user, s.seq))
	code := fmt.Sprintf("%06d", (int(sum[0])<<16|int(sum[1])<<8|int(sum[2]))%1000000)
	s.v2.codes[strings.ToLower(a.user)] = &mfaCode{code: code, terminal: terminal, mfaType: mfaType}
	return success(map[string]any{})
}

// v2CheckCode completes a verification: the process must be the user's,
// the code the last one sent to the user's terminal by the same way.
func (s *Server) v2CheckCode(p map[string]json.RawMessage, termID string) []byte {
	app, ok1 := str(p["appType"])
	user, ok2 := str(p["cloudUserName"])
	code, ok3 := str(p["code"])
	id, ok4 := str(p["MFAProcessId"])
	if !ok4 {
		id, ok4 = str(p["mfaProcessId"])
	}
	var mfaType int
	ok5 := json.Unmarshal(p["MFAType"], &mfaType) == nil && (mfaType == 1 || mfaType == 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || app == "" || user == "" || termID == "" {
		return apiError(codeParamMissing)
	}
	bind := strings.TrimSpace(string(p["terminalBindEnabled"])) == "true"
	s.v2.lastCheck = &MFACheck{Username: user, Code: code, ProcessID: id, MFAType: mfaType, TerminalBindEnabled: bind, TerminalUUID: termID}
	key := strings.ToLower(user)
	proc := s.v2.processes[id]
	if proc == nil || proc.user != key || proc.terminal != termID {
		return apiError(codeCodeExpired)
	}
	c := s.v2.codes[key]
	switch {
	case c == nil || c.code != code || c.terminal != termID || c.mfaType != mfaType:
		return apiError(codeWrongCode)
	case c.expired || c.used:
		return apiError(codeCodeExpired)
	}
	c.used = true
	delete(s.v2.processes, id)
	return s.v2Tokens(s.accounts[key].user, termID, isTrue(p["refreshTokenNeeded"]))
}
