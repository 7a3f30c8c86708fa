package kasa

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
)

// The bytes signed are the bytes sent: a server that checks Content-MD5
// and the HMAC over the body it received (computed here, not by signV2)
// accepts every request, whatever the body holds; the query carries the
// V2 parameters and the token, the headers the documented names.
func TestV2Client_SignsTheBytesItSends(t *testing.T) {
	const access, secret, terminal = "ak", "sk", "3df98660-4c6a-4e04-a2ad-8b0d0a0c2a11"
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := md5.Sum(body)
		md := base64.StdEncoding.EncodeToString(sum[:])
		auth := r.Header.Get("X-Authorization")
		parts := strings.Split(auth, ", ")
		ok := len(parts) == 4 && r.Header.Get("Content-MD5") == md &&
			strings.HasPrefix(parts[0], "Timestamp=") && strings.HasPrefix(parts[1], "Nonce=") && parts[2] == "AccessKey="+access
		if ok {
			mac := hmac.New(sha1.New, []byte(secret))
			mac.Write([]byte(md + "\n" + strings.TrimPrefix(parts[0], "Timestamp=") + "\n" + strings.TrimPrefix(parts[1], "Nonce=") + "\n" + r.URL.Path))
			ok = parts[3] == "Signature="+hex.EncodeToString(mac.Sum(nil))
		}
		q := r.URL.Query()
		ok = ok && q.Get("appName") == "Kasa_Android_Mix" && q.Get("termID") == terminal && q.Get("token") == "tok" &&
			r.Header.Get("Content-Type") == "application/json;charset=UTF-8"
		got = append(got, string(body))
		if !ok {
			_, _ = io.WriteString(w, `{"error_code":-20001,"msg":"bad signature"}`)
			return
		}
		_, _ = io.WriteString(w, `{"error_code":0,"result":{"ok":1}}`)
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc, err := httpx.WithRootCAs(srv.Client(), pool)
	if err != nil {
		t.Fatal(err)
	}
	c := &v2Client{http: httpx.NewCaller(hc, time.Minute), accessKey: access, secretKey: secret, terminal: terminal, nonce: newNonce}
	for _, body := range []any{
		map[string]any{"appType": "Kasa_Android_Mix", "cloudUserName": "a@example.com"},
		envelopeRequest{Method: "passthrough", Params: passthroughParams{DeviceID: "X", RequestData: `{"system":{"get_sysinfo":null}}`}},
		map[string]string{"password": `p"a\s/s{w}o rd ü 密 <&>`},
		envelopeRequest{Method: "getDeviceList"},
	} {
		res, err := c.post(t.Context(), srv.URL, "/api/v2/x", "op", body, "tok")
		if err != nil || string(res) != `{"ok":1}` {
			t.Errorf("post(%v) = %s, %v", body, res, err)
		}
	}
	if got[3] != `{"method":"getDeviceList"}` {
		t.Errorf("getDeviceList body = %s, want no params", got[3])
	}
	if !strings.Contains(got[1], `"params":{"deviceId":"X","requestData":`) || strings.Contains(got[1], "token") {
		t.Errorf("passthrough body = %s, want no token in it", got[1])
	}
}

func TestDecodeV2(t *testing.T) {
	tests := []struct {
		data     string
		code     int
		msg      string
		sentinel error
	}{
		{`{"error_code":0,"result":{"token":"t"}}`, 0, "", nil},
		{`{"error_code":0,"result":{"errorCode":0,"errorMsg":"Success","token":"t"}}`, 0, "", nil},
		{`{"error_code":0,"result":{"errorCode":"0"}}`, 0, "", nil},
		{`{"error_code":-20601,"msg":"Incorrect email or password"}`, -20601, "Incorrect email or password", cloud.ErrAuth},
		{`{"error_code":0,"result":{"errorCode":-20601,"errorMsg":"Incorrect"}}`, -20601, "Incorrect", cloud.ErrAuth},
		{`{"error_code":0,"result":{"errorCode":"-20677","errorMsg":"MFA","MFAProcessId":"p"}}`, -20677, "MFA", cloud.ErrAuth},
		{`{"error_code":"-20651","msg":"Token expired"}`, -20651, "Token expired", nil},
		{`{"error_code":0,"result":{"errorCode":-20571}}`, -20571, "", cloud.ErrDeviceOffline},
		{`{"error_code":-20004,"result":{"errorCode":0}}`, -20004, "", cloud.ErrRateLimited},
	}
	for _, tt := range tests {
		res, err := decodeV2("login", []byte(tt.data))
		code, _ := apiCode(err)
		if code != tt.code || (tt.code == 0) != (err == nil) {
			t.Errorf("%s: code %d err %v, want %d", tt.data, code, err, tt.code)
			continue
		}
		if tt.code != 0 {
			ae, _ := errors.AsType[*APIError](err)
			if ae.Msg != tt.msg || !errors.Is(err, tt.sentinel) && tt.sentinel != nil {
				t.Errorf("%s: %+v", tt.data, ae)
			}
		}
		if !json.Valid(res) {
			t.Errorf("%s: result %q", tt.data, res)
		}
	}
	for _, bad := range []string{``, `[]`, `{"result":{}}`, `{"error_code":0,"result":{"errorCode":"x"}}`, `{"error_code":0,"result":{"errorCode":1.5}}`} {
		if _, err := decodeV2("login", []byte(bad)); err == nil || strings.Contains(err.Error(), "error 0") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseMFAChallenge(t *testing.T) {
	tests := []struct {
		data, id string
		methods  []MFAMethod
	}{
		{`{"MFAProcessId":"abc","supportedMFATypes":[1,2]}`, "abc", []MFAMethod{MFAPush, MFAEmail}},
		{`{"mfaProcessId":"abc","supportedMFATypes":["email"]}`, "abc", []MFAMethod{MFAEmail}},
		{`{"MFAProcessId":12345,"supportedMFATypes":[2,2,9]}`, "12345", []MFAMethod{MFAEmail}},
		{`{"supportedMFATypes":"x"}`, "", []MFAMethod{MFAPush, MFAEmail}},
		{`null`, "", []MFAMethod{MFAPush, MFAEmail}},
	}
	for _, tt := range tests {
		id, methods := parseMFAChallenge(json.RawMessage(tt.data))
		if id != tt.id || strings.Join(mfaNames(methods), ",") != strings.Join(mfaNames(tt.methods), ",") {
			t.Errorf("%s: %q %v", tt.data, id, methods)
		}
	}
}

func mfaNames(ms []MFAMethod) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m))
	}
	return out
}
