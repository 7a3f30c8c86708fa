package kasatest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

type reply struct {
	ErrorCode int             `json:"error_code"`
	Msg       string          `json:"msg"`
	Result    json.RawMessage `json:"result"`
}

// post sends a raw body and decodes the envelope; status is the HTTP status.
func post(t *testing.T, s *kasatest.Server, url, contentType, body string) (reply, int) {
	t.Helper()
	resp, err := s.Client().Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var r reply
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	return r, resp.StatusCode
}

func call(t *testing.T, s *kasatest.Server, method string, params map[string]any) reply {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "params": params})
	r, status := post(t, s, s.URL(), "application/json", string(body))
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, status)
	}
	return r
}

func login(t *testing.T, s *kasatest.Server) (token, refresh string) {
	t.Helper()
	r := call(t, s, "login", map[string]any{
		"appType": "Kasa_Android", "cloudUserName": "u@example.com", "cloudPassword": "pw",
		"terminalUUID": "3df98660-4c6a-4e04-a2ad-8b0d0a0c2a11", "refreshTokenNeeded": true,
	})
	if r.ErrorCode != 0 {
		t.Fatalf("login: %+v", r)
	}
	var res struct{ Token, RefreshToken string }
	_ = json.Unmarshal(r.Result, &res)
	if res.Token == "" || res.RefreshToken == "" {
		t.Fatalf("login result %s", r.Result)
	}
	return res.Token, res.RefreshToken
}

func newServer(t *testing.T) *kasatest.Server {
	s := kasatest.NewServer()
	t.Cleanup(s.Close)
	s.AddAccount("u@example.com", "pw")
	return s
}

func passthrough(t *testing.T, s *kasatest.Server, token, id string, request any) (reply, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(request)
	r := call(t, s, "passthrough", map[string]any{"deviceId": id, "requestData": string(data), "token": token})
	if r.ErrorCode != 0 {
		return r, nil
	}
	var res struct {
		ResponseData json.RawMessage `json:"responseData"`
	}
	_ = json.Unmarshal(r.Result, &res)
	var inner string
	if err := json.Unmarshal(res.ResponseData, &inner); err != nil {
		t.Fatalf("responseData is not a JSON string: %s", res.ResponseData)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(inner), &out); err != nil {
		t.Fatalf("responseData string is not JSON: %q", inner)
	}
	return r, out
}

func TestServer_Envelope(t *testing.T) {
	s := newServer(t)
	if resp, err := s.Client().Get(s.URL()); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	if _, status := post(t, s, s.URL(), "text/plain", `{"method":"login"}`); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: HTTP %d", status)
	}
	tests := []struct {
		body string
		code int
	}{
		{`not json`, -10100},
		{`[1,2]`, -10100},
		{`{"method":5}`, -10100},
		{`{"method":"login","params":"x"}`, -10100},
		{`{"params":{}}`, -20103},
		{`{"method":"fly"}`, -20103},
		{`{"method":"getDeviceList"}`, -20651},
		{`{"method":"getDeviceList","params":{"token":"forged"}}`, -20652},
	}
	for _, tc := range tests {
		r, status := post(t, s, s.URL(), "application/json; charset=UTF-8", tc.body)
		if status != http.StatusOK || r.ErrorCode != tc.code || r.Msg == "" {
			t.Errorf("%s: HTTP %d %+v, want error_code %d", tc.body, status, r, tc.code)
		}
	}
	if s.Calls("getDeviceList") != 2 || s.Calls("fly") != 1 {
		t.Errorf("calls not counted: %d %d", s.Calls("getDeviceList"), s.Calls("fly"))
	}
	s.Close()
	s.Close() // idempotent
}

func TestServer_Login(t *testing.T) {
	s := newServer(t)
	s.AddAccount("2fa@example.com", "pw")
	s.Require2FA("2fa@example.com", true)
	base := func() map[string]any {
		return map[string]any{"appType": "Kasa_Android", "cloudUserName": "u@example.com", "cloudPassword": "pw", "terminalUUID": ""}
	}
	for name, tc := range map[string]struct {
		edit func(map[string]any)
		code int
	}{
		"empty terminalUUID is fine": {func(map[string]any) {}, 0},
		"no terminalUUID key":        {func(m map[string]any) { delete(m, "terminalUUID") }, -20104},
		"no appType":                 {func(m map[string]any) { delete(m, "appType") }, -20104},
		"no password":                {func(m map[string]any) { delete(m, "cloudPassword") }, -20104},
		"wrong password":             {func(m map[string]any) { m["cloudPassword"] = "PW" }, -20601},
		"unknown user":               {func(m map[string]any) { m["cloudUserName"] = "x@example.com" }, -20600},
		"2FA":                        {func(m map[string]any) { m["cloudUserName"] = "2fa@example.com" }, -23003},
		"user name case":             {func(m map[string]any) { m["cloudUserName"] = "U@Example.com" }, 0},
	} {
		p := base()
		tc.edit(p)
		if r := call(t, s, "login", p); r.ErrorCode != tc.code {
			t.Errorf("%s: %+v, want %d", name, r, tc.code)
		}
	}
	if r := call(t, s, "login", base()); strings.Contains(string(r.Result), "refreshToken") {
		t.Error("refresh token issued without refreshTokenNeeded")
	}
}

func TestServer_TokensAndRefresh(t *testing.T) {
	s := newServer(t)
	token, refresh := login(t, s)
	if r := call(t, s, "getDeviceList", map[string]any{"token": token}); r.ErrorCode != 0 {
		t.Fatalf("getDeviceList: %+v", r)
	}
	// The token is accepted from the query string too.
	if r, _ := post(t, s, s.URL()+"?token="+token, "application/json", `{"method":"getDeviceList"}`); r.ErrorCode != 0 {
		t.Errorf("token in query: %+v", r)
	}
	if reqs := s.Requests(); !reqs[len(reqs)-1].TokenInQuery {
		t.Error("query token not recorded as such")
	}

	s.ExpireTokens()
	if r := call(t, s, "getDeviceList", map[string]any{"token": token}); r.ErrorCode != -20651 {
		t.Errorf("expired token: %+v", r)
	}
	terminal := "3df98660-4c6a-4e04-a2ad-8b0d0a0c2a11"
	if r := call(t, s, "refreshToken", map[string]any{"appType": "Kasa_Android", "terminalUUID": terminal, "refreshToken": token}); r.ErrorCode != -20656 {
		t.Errorf("refresh with the token instead of the refresh token: %+v", r)
	}
	if r := call(t, s, "refreshToken", map[string]any{"appType": "Kasa_Android", "terminalUUID": "other", "refreshToken": refresh}); r.ErrorCode != -20656 {
		t.Errorf("refresh from another terminal: %+v", r)
	}
	if r := call(t, s, "refreshToken", map[string]any{"appType": "Kasa_Android", "terminalUUID": terminal}); r.ErrorCode != -20104 {
		t.Errorf("refresh without refreshToken: %+v", r)
	}
	r := call(t, s, "refreshToken", map[string]any{"appType": "Kasa_Android", "terminalUUID": terminal, "refreshToken": refresh})
	var res struct{ Token string }
	_ = json.Unmarshal(r.Result, &res)
	if r.ErrorCode != 0 || res.Token == "" || res.Token == token {
		t.Fatalf("refresh: %+v", r)
	}
	if r := call(t, s, "getDeviceList", map[string]any{"token": res.Token}); r.ErrorCode != 0 {
		t.Errorf("refreshed token: %+v", r)
	}
	s.ExpireRefreshTokens()
	if r := call(t, s, "refreshToken", map[string]any{"appType": "Kasa_Android", "terminalUUID": terminal, "refreshToken": refresh}); r.ErrorCode != -20655 {
		t.Errorf("expired refresh token: %+v", r)
	}
	if n := len(s.Secrets()); n != 3 {
		t.Errorf("%d secrets issued, want 3", n)
	}
}

func TestServer_Passthrough(t *testing.T) {
	s := newServer(t)
	s.AddAccount("other@example.com", "pw")
	plug := s.AddPlug("u@example.com", "Lamp", "HS103(US)")
	foreign := s.AddPlug("other@example.com", "Theirs", "HS103(US)")
	tapo := s.AddRawDevice("u@example.com", map[string]any{"alias": "Cam", "deviceType": "SMART.IPCAMERA"})
	token, _ := login(t, s)

	if len(plug) != 40 || strings.ToUpper(plug) != plug {
		t.Errorf("device id %q is not 40 upper-hex characters", plug)
	}
	if again := kasatest.NewServer(); true {
		again.AddAccount("u@example.com", "pw")
		if id := again.AddPlug("u@example.com", "Lamp", "HS103(US)"); id != plug {
			t.Errorf("ids not deterministic: %s vs %s", id, plug)
		}
		again.Close()
	}

	sysinfo := map[string]any{"system": map[string]any{"get_sysinfo": nil}}
	obj := call(t, s, "passthrough", map[string]any{"deviceId": plug, "requestData": sysinfo, "token": token})
	if obj.ErrorCode != -20104 {
		t.Errorf("requestData as an object: %+v", obj)
	}
	if r := call(t, s, "passthrough", map[string]any{"deviceId": plug, "token": token}); r.ErrorCode != -20104 {
		t.Errorf("no requestData: %+v", r)
	}
	if r := call(t, s, "passthrough", map[string]any{"deviceId": plug, "requestData": "{oops", "token": token}); r.ErrorCode != -10100 {
		t.Errorf("invalid inner JSON: %+v", r)
	}
	if r, _ := passthrough(t, s, token, foreign, sysinfo); r.ErrorCode != -20580 {
		t.Errorf("someone else's device: %+v", r)
	}
	if r, _ := passthrough(t, s, token, tapo, sysinfo); r.ErrorCode != -20571 {
		t.Errorf("raw device: %+v", r)
	}
	s.SetOnline(plug, false)
	if r, _ := passthrough(t, s, token, plug, sysinfo); r.ErrorCode != -20571 {
		t.Errorf("offline: %+v", r)
	}
	s.SetOnline(plug, true)

	_, out := passthrough(t, s, token, plug, map[string]any{
		"system": map[string]any{"get_sysinfo": nil, "fly": nil},
		"emeter": map[string]any{"get_realtime": nil},
		"nope":   map[string]any{"x": nil},
	})
	sys := out["system"].(map[string]any)
	info := sys["get_sysinfo"].(map[string]any)
	for _, key := range []string{"sw_ver", "hw_ver", "model", "deviceId", "oemId", "hwId", "mac", "alias", "dev_name",
		"relay_state", "on_time", "led_off", "rssi", "feature", "mic_type", "updating", "err_code"} {
		if _, ok := info[key]; !ok {
			t.Errorf("sysinfo lacks %q", key)
		}
	}
	if info["feature"] != "TIM" || info["mic_type"] != "IOT.SMARTPLUGSWITCH" || !strings.Contains(info["mac"].(string), ":") {
		t.Errorf("sysinfo = %v", info)
	}
	if code := sys["fly"].(map[string]any)["err_code"]; code != -2.0 {
		t.Errorf("unknown method err_code %v", code)
	}
	if code := out["emeter"].(map[string]any)["err_code"]; code != -1.0 {
		t.Errorf("emeter on a plain plug: %v", out["emeter"])
	}
	if code := out["nope"].(map[string]any)["err_code"]; code != -1.0 {
		t.Errorf("unknown module: %v", out["nope"])
	}
}

func TestServer_StripAndMeters(t *testing.T) {
	s := newServer(t)
	strip, outlets := s.AddStrip("u@example.com", "Strip", "HS300(US)", 6, true)
	old := s.AddMeteredPlug("u@example.com", "Washer", "HS110(EU)", false)
	token, _ := login(t, s)
	if len(outlets) != 6 || outlets[5] != strip+"05" {
		t.Fatalf("outlets = %v", outlets)
	}

	_, out := passthrough(t, s, token, strip, map[string]any{"system": map[string]any{"get_sysinfo": map[string]any{}}})
	info := out["system"].(map[string]any)["get_sysinfo"].(map[string]any)
	if _, ok := info["relay_state"]; ok || info["child_num"] != 6.0 || len(info["children"].([]any)) != 6 {
		t.Errorf("strip sysinfo = %v", info)
	}

	ctx := func(ids ...string) map[string]any { return map[string]any{"child_ids": ids} }
	passthrough(t, s, token, strip, map[string]any{"context": ctx(outlets[1]), "system": map[string]any{"set_relay_state": map[string]any{"state": 1}}})
	if !s.Relay(outlets[1]) || s.Relay(outlets[0]) {
		t.Error("context did not limit set_relay_state to one outlet")
	}
	passthrough(t, s, token, strip, map[string]any{"system": map[string]any{"set_relay_state": map[string]any{"state": 1}}})
	for _, id := range outlets {
		if !s.Relay(id) {
			t.Errorf("set_relay_state without context left %s off", id)
		}
	}
	_, out = passthrough(t, s, token, strip, map[string]any{"context": ctx("nope"), "system": map[string]any{"set_relay_state": map[string]any{"state": 0}}})
	if out["system"].(map[string]any)["err_code"] != -14.0 || !s.Relay(outlets[0]) {
		t.Errorf("unknown child: %v", out)
	}

	s.SetPower(outlets[2], 100)
	s.Tick(30 * time.Minute)
	_, out = passthrough(t, s, token, strip, map[string]any{"context": ctx(outlets[2]), "emeter": map[string]any{"get_realtime": nil}})
	rt := out["emeter"].(map[string]any)["get_realtime"].(map[string]any)
	if rt["power_mw"] != 100000.0 || rt["total_wh"] != 50.0 || rt["voltage_mv"] != 120400.0 || rt["slot_id"] != 2.0 {
		t.Errorf("outlet realtime = %v", rt)
	}
	_, out = passthrough(t, s, token, strip, map[string]any{"emeter": map[string]any{"get_realtime": nil}})
	if out["emeter"].(map[string]any)["get_realtime"].(map[string]any)["err_code"] != -3.0 {
		t.Errorf("strip emeter without context: %v", out)
	}

	s.SetRelay(old, true)
	s.SetPower(old, 1000)
	s.Tick(time.Hour)
	_, out = passthrough(t, s, token, old, map[string]any{"emeter": map[string]any{"get_realtime": nil}})
	rt = out["emeter"].(map[string]any)["get_realtime"].(map[string]any)
	if rt["power"] != 1000.0 || rt["total"] != 1.0 || rt["voltage"] != 230.6 {
		t.Errorf("old-generation realtime = %v", rt)
	}
	s.RebootEnergy(old)
	_, out = passthrough(t, s, token, old, map[string]any{"emeter": map[string]any{"get_realtime": nil}})
	if out["emeter"].(map[string]any)["get_realtime"].(map[string]any)["total"] != 0.0 {
		t.Errorf("after RebootEnergy: %v", out)
	}
}

func TestServer_Knobs(t *testing.T) {
	s := newServer(t)
	plug := s.AddPlug("u@example.com", "Lamp", "HS103(US)")
	token, _ := login(t, s)
	s.FailNext("getDeviceList", 2, -20004)
	for i := range 3 {
		r := call(t, s, "getDeviceList", map[string]any{"token": token})
		if want := map[bool]int{true: -20004, false: 0}[i < 2]; r.ErrorCode != want {
			t.Errorf("call %d: %+v", i, r)
		}
	}
	s.FailHTTP(1, http.StatusBadGateway)
	if _, status := post(t, s, s.URL(), "application/json", `{"method":"getDeviceList"}`); status != http.StatusBadGateway {
		t.Errorf("FailHTTP: %d", status)
	}

	s.EncodeAliasBase64(plug, true)
	s.SetAppServerURL(plug, "https://eu-wap.tplinkcloud.com")
	r := call(t, s, "getDeviceList", map[string]any{"token": token})
	var list struct {
		DeviceList []map[string]any `json:"deviceList"`
	}
	_ = json.Unmarshal(r.Result, &list)
	row := list.DeviceList[0]
	if row["alias"] != "TGFtcA==" || row["appServerUrl"] != "https://eu-wap.tplinkcloud.com" || row["status"] != 1.0 ||
		strings.Contains(row["deviceMac"].(string), ":") || row["deviceType"] != "IOT.SMARTPLUGSWITCH" {
		t.Errorf("row = %v", row)
	}
	s.RemoveDevice(plug)
	r = call(t, s, "getDeviceList", map[string]any{"token": token})
	if !bytes.Contains(r.Result, []byte(`"deviceList":[]`)) {
		t.Errorf("after RemoveDevice: %s", r.Result)
	}

	// Client never leaves loopback.
	resp, err := s.Client().Get("http://example.com/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("Client reached a foreign host")
	}
	if hosts := s.ForeignHosts(); len(hosts) != 1 || hosts[0] != "example.com" {
		t.Errorf("ForeignHosts = %v", hosts)
	}
	defer func() {
		if recover() == nil {
			t.Error("knob on an unknown id did not panic")
		}
	}()
	s.SetRelay("nope", true)
}

func TestServerTLS(t *testing.T) {
	s := kasatest.NewServerTLS()
	defer s.Close()
	s.AddAccount("u@example.com", "pw")
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	login(t, s)
}
