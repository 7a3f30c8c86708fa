package tuyatest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Envelope codes the fake answers with, and their messages.
const (
	codeSystemError    = 500
	codeTokenNull      = 1002
	codeGrantInvalid   = 1003
	codeSignInvalid    = 1004
	codeClientInvalid  = 1005
	codeContentType    = 1006
	codeTokenExpired   = 1010
	codeTokenInvalid   = 1011
	codeTokenStatus    = 1012
	codeTimeInvalid    = 1013
	codeParamEmpty     = 1100
	codeParamRange     = 1101
	codePermissionDeny = 1106
	codePathInvalid    = 1108
	codeParamIllegal   = 1109
	codeDeviceOffline  = 2001
	codeCommandNotSupp = 2008
	codeQuotaUsedUp    = 28841004
)

var messages = map[int]string{
	codeSystemError:    "system error,please contact the admin",
	codeTokenNull:      "access_token is null",
	codeGrantInvalid:   "invalid code",
	codeSignInvalid:    "sign invalid",
	codeClientInvalid:  "clientId invalid",
	codeContentType:    "not support this content type",
	codeTokenExpired:   "token invalid",
	codeTokenInvalid:   "token invalid",
	codeTokenStatus:    "token status is invalid",
	codeTimeInvalid:    "request time is invalid",
	codeParamEmpty:     "param is empty",
	codeParamRange:     "params range invalid",
	codePermissionDeny: "permission deny",
	codePathInvalid:    "uri path invalid",
	codeParamIllegal:   "param is illegal",
	codeDeviceOffline:  "device is offline",
	codeCommandNotSupp: "command or value not support",
	codeQuotaUsedUp:    "No permissions. Your quota of Trial Edition is used up.",
	1001:               "secret invalid",
	1110:               "concurrent request over limit",
	1199:               "your requests are too frequent",
	2406:               "skill id invalid",
	28841002:           "No permissions. Your subscription to cloud development plan has expired.",
	28841101:           "No permissions. This project is not authorized to call this API.",
}

const maxRequestBody = 1 << 20

const MaxStatusIDs = 20

// arrivedKey holds, in a request's context, when it arrived (Request.At).
type arrivedKey struct{}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), arrivedKey{}, time.Now()))
	if strings.HasPrefix(r.URL.Path, consumerPathPrefix) {
		s.serveConsumer(w, r) // the message service: no API call
		return
	}
	s.mu.Lock()
	if s.hang > 0 {
		s.hang--
		s.record(r, -1)
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	s.mu.Unlock()
	if !s.delay(r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	resp, status := s.handle(r, body)
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	s.writeBody(w, r, resp) // RewriteNext (hostile.go)
}

// record notes a request (s.mu held) and returns its index.
func (s *Server) record(r *http.Request, code int) int {
	path := r.URL.Path
	if strings.HasPrefix(path, "/v1.0/token/") {
		path = "/v1.0/token/{refresh_token}"
	}
	at, ok := r.Context().Value(arrivedKey{}).(time.Time)
	if !ok {
		at = time.Now()
	}
	s.calls = append(s.calls, Request{Method: r.Method, Path: path, Query: r.URL.Query(), Code: code, At: at})
	return len(s.calls) - 1
}

// handle answers one request; a status other than 200 means an HTTP error.
func (s *Server) handle(r *http.Request, body []byte) ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.record(r, -1)
	if s.failHTTP.n > 0 {
		s.failHTTP.n--
		return nil, s.failHTTP.status
	}
	result, code := s.route(r, body)
	s.calls[idx].Code = code
	env := map[string]any{"t": s.now().UnixMilli(), "tid": hash(fmt.Sprint("tid/", s.seq, "/", idx))[:32]}
	if code == 0 {
		env["success"] = true
		env["result"] = result
	} else {
		env["success"] = false
		env["code"] = code
		msg := messages[code]
		if msg == "" {
			msg = "error"
		}
		env["msg"] = msg
	}
	out, err := json.Marshal(env)
	if err != nil {
		panic(fmt.Sprintf("tuyatest: encode: %v", err))
	}
	return out, http.StatusOK
}

// route checks the signature, time, token and quota and dispatches.
func (s *Server) route(r *http.Request, body []byte) (any, int) {
	h := r.Header
	proj := s.projects[h.Get("client_id")]
	if proj == nil {
		return nil, codeClientInvalid
	}
	if h.Get("sign_method") != "HMAC-SHA256" {
		return nil, codeSignInvalid
	}
	tms, err := strconv.ParseInt(h.Get("t"), 10, 64)
	if err != nil || len(h.Get("t")) != 13 {
		return nil, codeTimeInvalid
	}
	if d := time.UnixMilli(tms).Sub(s.now()); d > TimeTolerance || d < -TimeTolerance {
		return nil, codeTimeInvalid
	}
	tokenAPI := r.URL.Path == "/v1.0/token" || strings.HasPrefix(r.URL.Path, "/v1.0/token/")
	token := ""
	if !tokenAPI {
		token = h.Get("access_token")
	}
	if !hmac.Equal([]byte(h.Get("sign")), []byte(expectedSign(r, body, proj.secret, token))) {
		return nil, codeSignInvalid
	}
	for _, f := range s.failNext {
		if f.n > 0 && strings.HasPrefix(r.URL.Path, f.prefix) {
			f.n--
			return nil, f.code
		}
	}
	if s.quota {
		return nil, codeQuotaUsedUp
	}
	if tokenAPI {
		return s.tokenAPI(r, proj)
	}
	if token == "" {
		return nil, codeTokenNull
	}
	p := s.access[token]
	switch {
	case p == nil || p.project != proj.accessID:
		return nil, codeTokenInvalid
	case p.expired || p.superseded || !s.now().Before(p.expires):
		return nil, codeTokenExpired
	}
	return s.business(r, body, proj)
}

// expectedSign computes the sign the real cloud expects (current
// algorithm), independently of the provider's implementation.
func expectedSign(r *http.Request, body []byte, secret, token string) string {
	sum := sha256.Sum256(body)
	var sts strings.Builder
	sts.WriteString(r.Method + "\n" + hex.EncodeToString(sum[:]) + "\n")
	if names := r.Header.Get("Signature-Headers"); names != "" {
		for _, n := range strings.Split(names, ":") {
			sts.WriteString(n + ":" + r.Header.Get(n) + "\n")
		}
	}
	sts.WriteString("\n" + r.URL.Path)
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var pairs []string
	for _, k := range keys {
		for _, v := range q[k] {
			pairs = append(pairs, k+"="+v)
		}
	}
	if len(pairs) > 0 {
		sts.WriteString("?" + strings.Join(pairs, "&"))
	}
	msg := r.Header.Get("client_id") + token + r.Header.Get("t") + r.Header.Get("nonce") + sts.String()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

func (s *Server) tokenResult(p *pair) map[string]any {
	return map[string]any{
		"access_token":  p.access,
		"refresh_token": p.refresh,
		"expire_time":   int64(s.ttl / time.Second),
		"uid":           p.uid,
	}
}

func (s *Server) tokenAPI(r *http.Request, proj *project) (any, int) {
	if r.Method != http.MethodGet {
		return nil, codePathInvalid
	}
	if r.URL.Path == "/v1.0/token" {
		q := r.URL.Query()
		switch q.Get("grant_type") {
		case "1":
			return s.tokenResult(s.issue(proj.accessID, proj.svcUID)), 0
		case "2":
			code := q.Get("code")
			if code == "" || s.codes[code] != proj.accessID {
				return nil, codeGrantInvalid
			}
			delete(s.codes, code)
			return s.tokenResult(s.issue(proj.accessID, proj.uid)), 0
		}
		return nil, codeGrantInvalid
	}
	old := s.refresh[strings.TrimPrefix(r.URL.Path, "/v1.0/token/")]
	switch {
	case old == nil || old.project != proj.accessID:
		return nil, codeTokenInvalid
	case old.refreshUsed || old.superseded:
		return nil, codeTokenStatus
	}
	old.refreshUsed, old.superseded = true, true
	return s.tokenResult(s.issue(proj.accessID, old.uid)), 0
}

func (s *Server) business(r *http.Request, body []byte, proj *project) (any, int) {
	path := r.URL.Path
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	switch {
	case path == "/v1.0/iot-01/associated-users/devices" && get:
		return s.listAssociated(q, proj)
	case path == "/v1.0/iot-03/devices/status" && get:
		return s.batchStatus(q, proj)
	case strings.HasPrefix(path, "/v1.0/users/") && strings.HasSuffix(path, "/devices") && get:
		uid := strings.TrimSuffix(strings.TrimPrefix(path, "/v1.0/users/"), "/devices")
		if uid != proj.uid {
			return nil, codePermissionDeny
		}
		return s.listUser(q, proj)
	case strings.HasPrefix(path, "/v1.0/iot-03/devices/"):
		rest := strings.TrimPrefix(path, "/v1.0/iot-03/devices/")
		id, what, _ := strings.Cut(rest, "/")
		d := s.devices[id]
		switch {
		case what == "specification" && get:
			if d == nil || d.project != proj.accessID {
				return nil, codePermissionDeny
			}
			return d.specification(), 0
		case what == "commands" && r.Method == http.MethodPost:
			if d == nil || d.project != proj.accessID {
				return nil, codePermissionDeny
			}
			return s.commands(r, body, d)
		}
	}
	return nil, codePathInvalid
}

func (s *Server) projectDevices(proj *project) []*device {
	var out []*device
	for _, id := range s.order {
		if d := s.devices[id]; d.project == proj.accessID {
			out = append(out, d)
		}
	}
	return out
}

func (s *Server) listAssociated(q url.Values, proj *project) (any, int) {
	size := 20
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, codeParamRange
		}
		size = n
	}
	size = min(size, s.pageSize)
	devs := s.projectDevices(proj)
	start := 0
	if k := q.Get("last_row_key"); k != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(k, "row-"))
		if err != nil || !strings.HasPrefix(k, "row-") || n < 0 || n > len(devs) {
			return nil, codeParamIllegal
		}
		start = n
	}
	end := min(start+size, len(devs))
	rows := []any{}
	for _, d := range devs[start:end] {
		uid := proj.uid
		if d.otherUser {
			uid = proj.otherUID()
		}
		rows = append(rows, d.listRow(uid))
	}
	return map[string]any{
		"devices":      rows,
		"has_more":     end < len(devs),
		"last_row_key": fmt.Sprintf("row-%d", end),
		"total":        len(devs),
	}, 0
}

func (s *Server) listUser(q url.Values, proj *project) (any, int) {
	pageNo, pageSize := 1, 100
	if v := q.Get("page_no"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, codeParamRange
		}
		pageNo = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, codeParamRange
		}
		pageSize = n
	}
	devs := slices.DeleteFunc(s.projectDevices(proj), func(d *device) bool { return d.otherUser })
	start := min((pageNo-1)*pageSize, len(devs))
	end := min(start+pageSize, len(devs))
	rows := []any{}
	for _, d := range devs[start:end] {
		rows = append(rows, d.listRow(proj.uid))
	}
	return rows, 0
}

func (s *Server) batchStatus(q url.Values, proj *project) (any, int) {
	raw := q.Get("device_ids")
	if raw == "" {
		return nil, codeParamEmpty
	}
	ids := strings.Split(raw, ",")
	if len(ids) > MaxStatusIDs {
		return nil, codeParamRange
	}
	var devs []*device
	seen := map[string]bool{}
	for _, id := range ids {
		d := s.devices[id]
		if d == nil || d.project != proj.accessID {
			return nil, codePermissionDeny
		}
		if !seen[id] {
			seen[id] = true
			devs = append(devs, d)
		}
	}
	out := []any{}
	for _, d := range devs {
		if d.online {
			out = append(out, map[string]any{"id": d.id, "status": d.status(true)})
		}
	}
	if len(out) == 0 {
		return nil, codeDeviceOffline
	}
	return out, 0
}

func (s *Server) commands(r *http.Request, body []byte, d *device) (any, int) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, codeContentType
	}
	var req struct {
		Commands []struct {
			Code  string          `json:"code"`
			Value json.RawMessage `json:"value"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Commands) == 0 {
		return nil, codeParamIllegal
	}
	if !d.online {
		return nil, codeDeviceOffline
	}
	// Validate all before applying any.
	trial := *d
	trial.switches = map[string]bool{}
	for k, v := range d.switches {
		trial.switches[k] = v
	}
	if d.light != nil {
		trial.light = d.light.clone()
	}
	for _, c := range req.Commands {
		if code := trial.command(c.Code, c.Value); code != 0 {
			return nil, code
		}
	}
	var changed []dpValue
	for _, c := range d.codes {
		if trial.switches[c] != d.switches[c] {
			changed = append(changed, dpValue{c, trial.switches[c]})
		}
	}
	if d.light != nil {
		for _, p := range d.light.dps {
			if v := trial.light.values[p.code]; v != d.light.values[p.code] {
				changed = append(changed, dpValue{p.code, v})
			}
		}
	}
	d.switches, d.light = trial.switches, trial.light
	if len(changed) > 0 {
		s.publishStatus(d, append(changed, d.meter()...))
	}
	return true, 0
}
