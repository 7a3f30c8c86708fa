package kasatest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

const terminal = "3df98660-4c6a-4e04-a2ad-8b0d0a0c2a11"

func newV2(t *testing.T) *kasatest.Server {
	s := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	t.Cleanup(s.Close)
	s.AddAccount("u@example.com", "pw")
	return s
}

// v2req is one request to the V2 fake; edit may spoil it before it is sent.
type v2req struct {
	base, path, token string
	body              any
	edit              func(r *http.Request, body *[]byte)
}

// v2call signs (with the test's own implementation of the recipe) and
// sends req, and decodes the answer; status is the HTTP status.
func v2call(t *testing.T, s *kasatest.Server, req v2req) (reply, int) {
	t.Helper()
	body, _ := json.Marshal(req.body)
	q := url.Values{"appName": {"Kasa_Android_Mix"}, "appVer": {"3.4.451"}, "netType": {"wifi"}, "termID": {terminal},
		"ospf": {"Android 14"}, "brand": {"TPLINK"}, "locale": {"en_US"}, "model": {"Pixel"}, "termName": {"Pixel"}, "termMeta": {"Pixel"}}
	if req.token != "" {
		q.Set("token", req.token)
	}
	base := req.base
	if base == "" {
		base = s.RegionURL()
	}
	u, _ := url.Parse(base + req.path)
	u.RawQuery = q.Encode()
	sum := md5.Sum(body)
	md := base64.StdEncoding.EncodeToString(sum[:])
	mac := hmac.New(sha1.New, []byte(kasatest.TestSecretKey))
	mac.Write([]byte(md + "\n9999999999\nn-1\n" + u.Path))
	r, _ := http.NewRequest(http.MethodPost, u.String(), nil)
	r.Header.Set("Content-Type", "application/json;charset=UTF-8")
	r.Header.Set("Content-MD5", md)
	r.Header.Set("X-Authorization", "Timestamp=9999999999, Nonce=n-1, AccessKey="+kasatest.TestAccessKey+", Signature="+hex.EncodeToString(mac.Sum(nil)))
	if req.edit != nil {
		req.edit(r, &body)
	}
	r.Body = http.NoBody
	if len(body) > 0 {
		r.Body = readCloser{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
	}
	resp, err := s.Client().Do(r)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var rep reply
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	return rep, resp.StatusCode
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// nested returns the error code of an answer, outer or nested.
func nested(r reply) int {
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	var res struct {
		ErrorCode json.Number `json:"errorCode"`
	}
	_ = json.Unmarshal(r.Result, &res)
	n, _ := res.ErrorCode.Int64()
	return int(n)
}

func v2login(t *testing.T, s *kasatest.Server) (token, refresh string, r reply) {
	t.Helper()
	r, _ = v2call(t, s, v2req{path: "/api/v2/account/login", body: map[string]any{
		"appType": "Kasa_Android_Mix", "cloudUserName": "u@example.com", "cloudPassword": "pw",
		"terminalUUID": terminal, "refreshTokenNeeded": true}})
	var res struct{ Token, RefreshToken string }
	_ = json.Unmarshal(r.Result, &res)
	return res.Token, res.RefreshToken, r
}

func TestV2_DiscoveryLoginListRefresh(t *testing.T) {
	s := newV2(t)
	plug := s.AddPlug("u@example.com", "Lamp", "HS103(US)")
	r, status := v2call(t, s, v2req{base: s.URL(), path: "/api/v2/account/getAccountStatusAndUrl",
		body: map[string]any{"appType": "Kasa_Android_Mix", "cloudUserName": "u@example.com"}})
	if status != 200 || !strings.Contains(string(r.Result), `"appServerUrl":"`+s.RegionURL()+`"`) {
		t.Fatalf("discovery: %d %s", status, r.Result)
	}
	token, refresh, r := v2login(t, s)
	if token == "" || refresh == "" {
		t.Fatalf("login: %+v", r)
	}
	r, _ = v2call(t, s, v2req{path: "/", token: token, body: map[string]any{"method": "getDeviceList"}})
	if r.ErrorCode != 0 || !strings.Contains(string(r.Result), plug) || !strings.Contains(string(r.Result), s.RegionURL()) {
		t.Errorf("getDeviceList: %+v", r)
	}
	// Refresh rotates: the old refresh token is spent.
	body := map[string]any{"appType": "Kasa_Android_Mix", "refreshToken": refresh, "terminalUUID": terminal}
	r, _ = v2call(t, s, v2req{path: "/api/v2/account/refreshToken", body: body})
	if nested(r) != 0 || !strings.Contains(string(r.Result), `"refreshToken"`) {
		t.Errorf("refresh: %+v", r)
	}
	if r, _ = v2call(t, s, v2req{path: "/api/v2/account/refreshToken", body: body}); nested(r) != -20656 {
		t.Errorf("second use of a refresh token: %+v", r)
	}
	// The entry serves discovery only; the regional server no discovery.
	if _, status := v2call(t, s, v2req{base: s.URL(), path: "/api/v2/account/login", body: map[string]any{}}); status != http.StatusNotFound {
		t.Errorf("login at the entry: HTTP %d", status)
	}
	if _, status := v2call(t, s, v2req{base: s.URL(), path: "/", body: map[string]any{"method": "getDeviceList"}}); status != http.StatusNotFound {
		t.Errorf("V1 envelope at the entry: HTTP %d", status)
	}
}

// Every spoilt signature is refused with -20001 and counted.
func TestV2_SignatureChecks(t *testing.T) {
	s := newV2(t)
	token, _, _ := v2login(t, s)
	list := map[string]any{"method": "getDeviceList"}
	spoil := map[string]func(r *http.Request, body *[]byte){
		"body changed after signing": func(r *http.Request, body *[]byte) { *body = append(*body, ' ') },
		"no Content-MD5":             func(r *http.Request, _ *[]byte) { r.Header.Del("Content-MD5") },
		"wrong access key": func(r *http.Request, _ *[]byte) {
			r.Header.Set("X-Authorization", strings.Replace(r.Header.Get("X-Authorization"), kasatest.TestAccessKey, "other", 1))
		},
		"parts reordered": func(r *http.Request, _ *[]byte) {
			p := strings.Split(r.Header.Get("X-Authorization"), ", ")
			r.Header.Set("X-Authorization", strings.Join([]string{p[1], p[0], p[2], p[3]}, ", "))
		},
		"signed for another path": func(r *http.Request, _ *[]byte) { r.URL.Path = kasatest.RegionPath + "//" },
		"query without termID": func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			q.Del("termID")
			r.URL.RawQuery = q.Encode()
		},
		"V1 app name": func(r *http.Request, _ *[]byte) {
			q := r.URL.Query()
			q.Set("appName", "Kasa_Android")
			r.URL.RawQuery = q.Encode()
		},
	}
	n := 0
	for name, edit := range spoil {
		n++
		r, _ := v2call(t, s, v2req{path: "/", token: token, body: list, edit: edit})
		if nested(r) != -20001 {
			t.Errorf("%s: %+v, want -20001", name, r)
		}
		if got := s.BadSignatures(); got != n {
			t.Errorf("%s: BadSignatures = %d, want %d", name, got, n)
		}
	}
	if r, _ := v2call(t, s, v2req{path: "/", token: token, body: list}); r.ErrorCode != 0 || nested(r) != 0 {
		t.Errorf("a good request after the bad ones: %+v", r)
	}
}

func TestV2_ErrorStyles(t *testing.T) {
	s := newV2(t)
	s.SetPassword("u@example.com", "other")
	for style, want := range map[kasatest.ErrorStyle]string{
		kasatest.ErrorsNestedNumber: `"errorCode":-20601`,
		kasatest.ErrorsNestedString: `"errorCode":"-20601"`,
	} {
		s.SetErrorStyle(style)
		_, _, r := v2login(t, s)
		if r.ErrorCode != 0 || !strings.Contains(string(r.Result), want) || !strings.Contains(string(r.Result), `"errorMsg":"Incorrect email or password"`) {
			t.Errorf("style %d: %+v", style, r)
		}
	}
	s.SetErrorStyle(kasatest.ErrorsOuter)
	if _, _, r := v2login(t, s); r.ErrorCode != -20601 || r.Msg == "" {
		t.Errorf("outer: %+v", r)
	}
}

// The MFA flow: login answers -20677 with a process id; a code is sent by
// the way asked for; only that code, from that terminal, completes it.
func TestV2_MFAFlow(t *testing.T) {
	s := newV2(t)
	s.Require2FA("u@example.com", true)
	_, _, r := v2login(t, s)
	var challenge struct {
		ID    string `json:"MFAProcessId"`
		Types []int  `json:"supportedMFATypes"`
	}
	_ = json.Unmarshal(r.Result, &challenge)
	if nested(r) != -20677 || challenge.ID == "" || len(challenge.Types) != 2 {
		t.Fatalf("login: %+v", r)
	}
	if _, _, ok := s.MFACode("u@example.com"); ok {
		t.Fatal("a code was sent before one was asked for")
	}
	ask := map[string]any{"appType": "Kasa_Android_Mix", "cloudUserName": "u@example.com", "cloudPassword": "pw", "terminalUUID": terminal}
	if r, _ := v2call(t, s, v2req{path: "/api/v2/account/getEmailVC4TerminalMFA", body: ask}); nested(r) != 0 {
		t.Fatalf("ask for a code: %+v", r)
	}
	code, typ, ok := s.MFACode("u@example.com")
	if !ok || typ != 2 || len(code) != 6 {
		t.Fatalf("code %q type %d", code, typ)
	}
	check := func(code string, mfaType int) reply {
		r, _ := v2call(t, s, v2req{path: "/api/v2/account/checkMFACodeAndLogin", body: map[string]any{
			"appType": "Kasa_Android_Mix", "cloudUserName": "u@example.com", "code": code, "MFAProcessId": challenge.ID,
			"MFAType": mfaType, "terminalBindEnabled": true, "refreshTokenNeeded": true}})
		return r
	}
	if r := check("x"+code, 2); nested(r) != -20607 {
		t.Errorf("wrong code: %+v", r)
	}
	if r := check(code, 1); nested(r) != -20607 {
		t.Errorf("code checked as a push code: %+v", r)
	}
	r = check(code, 2)
	if nested(r) != 0 || !strings.Contains(string(r.Result), `"refreshToken"`) {
		t.Fatalf("right code: %+v", r)
	}
	if c, _ := s.LastMFACheck(); !c.TerminalBindEnabled || c.TerminalUUID != terminal || c.ProcessID != challenge.ID {
		t.Errorf("LastMFACheck = %+v", c)
	}
	if r := check(code, 2); nested(r) != -20676 {
		t.Errorf("the code again: %+v", r)
	}
}

// The server's certificate chains to CAPEM, and to nothing a stock
// client trusts.
func TestV2_TestCA(t *testing.T) {
	s := newV2(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) || newServer(t).CAPEM() != nil {
		t.Fatal("CAPEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(s.URL())
	if err != nil {
		t.Fatalf("with the test CA: %v", err)
	}
	resp.Body.Close()
	if _, err := http.Get(s.URL()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with the system roots: %v", err)
	}
}
