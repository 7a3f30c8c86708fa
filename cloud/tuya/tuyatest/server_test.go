package tuyatest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

const (
	id     = "fakeproject000000001"
	secret = "fake-secret-0123456789abcdefghij"
)

type reply struct {
	Success bool            `json:"success"`
	Code    int             `json:"code"`
	Msg     string          `json:"msg"`
	T       int64           `json:"t"`
	Result  json.RawMessage `json:"result"`
}

// client is a minimal, independent Tuya signer for exercising the fake.
type client struct {
	t       *testing.T
	s       *tuyatest.Server
	secret  string
	token   string
	skew    time.Duration
	headers map[string]string // extra headers listed in Signature-Headers
	nonce   string
}

func newClient(t *testing.T, s *tuyatest.Server) *client {
	return &client{t: t, s: s, secret: secret, nonce: "n0nce"}
}

func (c *client) do(method, path string, query url.Values, body []byte) reply {
	c.t.Helper()
	ts := strconv.FormatInt(time.Now().Add(c.skew).UnixMilli(), 10)
	sum := sha256.Sum256(body)
	sts := method + "\n" + hex.EncodeToString(sum[:]) + "\n"
	var names []string
	for k := range c.headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, n := range names {
		sts += n + ":" + c.headers[n] + "\n"
	}
	sts += "\n" + path
	if len(query) > 0 {
		var keys []string
		for k := range query {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+query.Get(k))
		}
		sts += "?" + strings.Join(kv, "&")
	}
	tok := c.token
	if strings.HasPrefix(path, "/v1.0/token") {
		tok = ""
	}
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write([]byte(id + tok + ts + c.nonce + sts))
	target := c.s.URL() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, _ := http.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("client_id", id)
	req.Header.Set("t", ts)
	req.Header.Set("nonce", c.nonce)
	req.Header.Set("sign_method", "HMAC-SHA256")
	req.Header.Set("sign", strings.ToUpper(hex.EncodeToString(mac.Sum(nil))))
	if tok != "" {
		req.Header.Set("access_token", tok)
	}
	if len(names) > 0 {
		req.Header.Set("Signature-Headers", strings.Join(names, ":"))
		for _, n := range names {
			req.Header.Set(n, c.headers[n])
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.s.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var r reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatalf("%s %s: decode: %v", method, path, err)
	}
	return r
}

func (c *client) get(path string, q url.Values) reply { return c.do("GET", path, q, nil) }

func (c *client) grant() (access, refresh string) {
	c.t.Helper()
	r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}})
	if !r.Success {
		c.t.Fatalf("grant: %+v", r)
	}
	var res struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpireTime   int    `json:"expire_time"`
	}
	_ = json.Unmarshal(r.Result, &res)
	if res.AccessToken == "" || res.RefreshToken == "" || res.ExpireTime <= 0 {
		c.t.Fatalf("grant result %s", r.Result)
	}
	c.token = res.AccessToken
	return res.AccessToken, res.RefreshToken
}

func newFake(t *testing.T) *tuyatest.Server {
	s := tuyatest.NewServer()
	t.Cleanup(s.Close)
	s.AddProject(id, secret)
	return s
}

func TestServer_SignatureAndTime(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s)
	c.grant()

	c.headers = map[string]string{"area_id": "29a33e8796834b1efa6", "call_id": "8afdb70ab2ed11eb85290242ac130003"}
	if r := c.get("/v1.0/iot-01/associated-users/devices", url.Values{"size": {"20"}}); !r.Success {
		t.Errorf("with Signature-Headers: %+v", r)
	}
	c.headers = nil

	c.secret = "wrong"
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}}); r.Success || r.Code != 1004 {
		t.Errorf("wrong secret: %+v", r)
	}
	c.secret = secret

	c.skew = 16 * time.Minute
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}}); r.Code != 1013 || r.T == 0 {
		t.Errorf("16 min fast: %+v", r)
	}
	c.skew = 14 * time.Minute
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}}); !r.Success {
		t.Errorf("14 min fast: %+v", r)
	}
	s.SetClockOffset(time.Hour)
	c.skew = time.Hour
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}}); !r.Success || time.UnixMilli(r.T).Sub(time.Now()) < 59*time.Minute {
		t.Errorf("with clock offset: %+v", r)
	}

	if n := s.Answers(1013); n != 1 {
		t.Errorf("Answers(1013) = %d", n)
	}
}

func TestServer_UnknownClientAndMissingToken(t *testing.T) {
	s := newFake(t)
	resp, err := s.Client().Get(s.URL() + "/v1.0/token?grant_type=1")
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	_ = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.Code != 1005 {
		t.Errorf("no client_id: %+v", r)
	}
	c := newClient(t, s)
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {"x"}}); r.Code != 1002 {
		t.Errorf("no token: %+v", r)
	}
	c.token = "unknown"
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {"x"}}); r.Code != 1011 {
		t.Errorf("unknown token: %+v", r)
	}
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"3"}}); r.Code != 1003 {
		t.Errorf("grant_type 3: %+v", r)
	}
}

func TestServer_RefreshIsSingleUseAndKillsOldPair(t *testing.T) {
	s := newFake(t)
	plug := s.AddPlug(id, "Lamp", false)
	c := newClient(t, s)
	oldAccess, oldRefresh := c.grant()
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"1"}}); !strings.Contains(string(r.Result), `"expire_time":7200`) {
		t.Errorf("default TTL: %s", r.Result)
	}
	r := c.get("/v1.0/token/"+oldRefresh, nil)
	if !r.Success {
		t.Fatalf("refresh: %+v", r)
	}
	var res struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(r.Result, &res)
	if r := c.get("/v1.0/token/"+oldRefresh, nil); r.Code != 1012 {
		t.Errorf("refresh token reuse: %+v", r)
	}
	c.token = oldAccess
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plug}}); r.Code != 1010 {
		t.Errorf("old access token: %+v", r)
	}
	c.token = res.AccessToken
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plug}}); !r.Success {
		t.Errorf("new access token: %+v", r)
	}
	s.ExpireTokens()
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plug}}); r.Code != 1010 {
		t.Errorf("expired token: %+v", r)
	}
	// Tokens expire on the fake's clock.
	s.SetTokenTTL(time.Minute)
	c.grant()
	s.SetClockOffset(2 * time.Minute)
	c.skew = 2 * time.Minute
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plug}}); r.Code != 1010 {
		t.Errorf("token past its TTL: %+v", r)
	}
	if got := s.Calls("/v1.0/token/"); got != 2 {
		t.Errorf("Calls(refresh) = %d", got)
	}
	for _, sec := range []string{oldAccess, oldRefresh, secret} {
		if !slices.Contains(s.Secrets(), sec) {
			t.Errorf("Secrets lacks %q", sec)
		}
	}
}

func TestServer_AuthorizationCode(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s)
	code := s.AuthorizeCode(id)
	r := c.get("/v1.0/token", url.Values{"grant_type": {"2"}, "code": {code}})
	var res struct{ UID string }
	_ = json.Unmarshal(r.Result, &res)
	if !r.Success || res.UID != s.UserID(id) {
		t.Fatalf("code grant: %+v", r)
	}
	if r := c.get("/v1.0/token", url.Values{"grant_type": {"2"}, "code": {code}}); r.Code != 1003 {
		t.Errorf("code reuse: %+v", r)
	}
}

func TestServer_ListPagingStatusAndCommands(t *testing.T) {
	s := newFake(t)
	s.SetPageSize(2)
	var plugs []string
	for _, n := range []string{"A", "B", "C", "D", "E"} {
		plugs = append(plugs, s.AddPlug(id, n, n == "A"))
	}
	c := newClient(t, s)
	c.grant()
	var got []string
	key := ""
	for page := 0; page < 5; page++ {
		q := url.Values{"size": {"20"}}
		if key != "" {
			q.Set("last_row_key", key)
		}
		r := c.get("/v1.0/iot-01/associated-users/devices", q)
		var res struct {
			Devices    []struct{ ID string }
			HasMore    bool   `json:"has_more"`
			LastRowKey string `json:"last_row_key"`
		}
		if err := json.Unmarshal(r.Result, &res); err != nil || !r.Success {
			t.Fatalf("page %d: %+v", page, r)
		}
		for _, d := range res.Devices {
			got = append(got, d.ID)
		}
		if !res.HasMore {
			break
		}
		key = res.LastRowKey
	}
	if !slices.Equal(got, plugs) {
		t.Errorf("paged %v, want %v", got, plugs)
	}
	uid := s.UserID(id)
	r := c.get("/v1.0/users/"+uid+"/devices", url.Values{"page_no": {"1"}, "page_size": {"100"}})
	var all []json.RawMessage
	_ = json.Unmarshal(r.Result, &all)
	if len(all) != 5 {
		t.Errorf("users list: %+v", r)
	}
	if r := c.get("/v1.0/users/other/devices", nil); r.Code != 1106 {
		t.Errorf("other user: %+v", r)
	}

	many := strings.Repeat(plugs[0]+",", 20) + plugs[1]
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {many}}); r.Code != 1101 {
		t.Errorf("21 ids: %+v", r)
	}
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {""}}); r.Code != 1100 {
		t.Errorf("no ids: %+v", r)
	}
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {"bfnope"}}); r.Code != 1106 {
		t.Errorf("unknown id: %+v", r)
	}

	body := []byte(`{"commands":[{"code":"switch_1","value":true}]}`)
	if r := c.do("POST", "/v1.0/iot-03/devices/"+plugs[0]+"/commands", nil, body); !r.Success || string(r.Result) != "true" {
		t.Errorf("command: %+v", r)
	}
	if !s.Switch(plugs[0], "switch_1") {
		t.Error("switch_1 off after command")
	}
	bad := []byte(`{"commands":[{"code":"switch_1","value":"on"}]}`)
	if r := c.do("POST", "/v1.0/iot-03/devices/"+plugs[0]+"/commands", nil, bad); r.Code != 2008 {
		t.Errorf("bad value: %+v", r)
	}
	s.SetOnline(plugs[1], false)
	if r := c.do("POST", "/v1.0/iot-03/devices/"+plugs[1]+"/commands", nil, body); r.Code != 2001 {
		t.Errorf("offline: %+v", r)
	}
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plugs[1]}}); r.Code != 2001 {
		t.Errorf("status of an offline device: %+v", r)
	}

	// Energy: each read returns what was used since the previous read.
	s.SetPower(plugs[0], 2000)
	s.Tick(15 * time.Minute) // 0.5 kWh
	ele := func() int {
		r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {plugs[0] + "," + plugs[1]}})
		var res []struct {
			ID     string
			Status []struct {
				Code  string
				Value json.RawMessage
			}
		}
		if err := json.Unmarshal(r.Result, &res); err != nil || len(res) != 1 || res[0].ID != plugs[0] {
			t.Fatalf("status %+v (offline plugs are left out)", r)
		}
		for _, st := range res[0].Status {
			if st.Code == "add_ele" {
				n, _ := strconv.Atoi(string(st.Value))
				return n
			}
		}
		t.Fatal("no add_ele")
		return 0
	}
	if n := ele(); n != 500 {
		t.Errorf("add_ele = %d, want 500", n)
	}
	if n := ele(); n != 0 {
		t.Errorf("add_ele after read = %d, want 0", n)
	}

	s.SetSpecScale(plugs[0], "cur_power", 2)
	r = c.get("/v1.0/iot-03/devices/"+plugs[0]+"/specification", nil)
	if !r.Success || !strings.Contains(string(r.Result), `"code":"cur_power","type":"Integer","values":"{\"max\":50000,\"min\":0,\"scale\":2`) {
		t.Errorf("spec: %s", r.Result)
	}
	if r := c.get("/v1.0/nowhere", nil); r.Code != 1108 {
		t.Errorf("unknown path: %+v", r)
	}
}

func TestServer_KnobsFailHangQuota(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s)
	c.grant()
	s.FailNext("/v1.0/iot-01", 1, 500)
	if r := c.get("/v1.0/iot-01/associated-users/devices", nil); r.Code != 500 {
		t.Errorf("FailNext: %+v", r)
	}
	if r := c.get("/v1.0/iot-01/associated-users/devices", nil); !r.Success {
		t.Errorf("after FailNext: %+v", r)
	}
	s.SetQuotaExhausted(true)
	if r := c.get("/v1.0/iot-01/associated-users/devices", nil); r.Code != 28841004 {
		t.Errorf("quota: %+v", r)
	}
	s.SetQuotaExhausted(false)
	s.FailHTTP(1, 502)
	resp, err := s.Client().Get(s.URL() + "/v1.0/token")
	if err != nil || resp.StatusCode != 502 {
		t.Errorf("FailHTTP: %v %v", resp, err)
	}
	resp.Body.Close()

	s.Hang(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := s.Client().Get(s.URL() + "/v1.0/token")
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close() // releases the hung request
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hung request not released by Close")
	}
}

func TestServer_ClientIsLoopbackOnly(t *testing.T) {
	s := newFake(t)
	if _, err := s.Client().Get("http://192.0.2.1/v1.0/token"); err == nil {
		t.Fatal("non-loopback request allowed")
	}
	if got := s.ForeignHosts(); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("ForeignHosts = %v", got)
	}
}

func TestServer_DeterministicIDs(t *testing.T) {
	a, b := newFake(t), newFake(t)
	if a.AddPlug(id, "Lamp", true) != b.AddPlug(id, "Lamp", true) {
		t.Error("ids differ between servers")
	}
	x := a.AddPlug(id, "Lamp", true)
	sid, gangs := a.AddStrip(id, "Desk", 3)
	if x == sid || len(gangs) != 3 || gangs[2] != sid+"_switch_3" || len(x) != 20 || !strings.HasPrefix(x, "bf") {
		t.Errorf("ids %q %q %v", x, sid, gangs)
	}
}

// A removed device leaves the list, and its status is refused as for any
// id outside the project.
func TestRemoveDevice(t *testing.T) {
	s := newFake(t)
	keep := s.AddPlug(id, "Keep", false)
	gone := s.AddPlug(id, "Gone", false)
	c := newClient(t, s)
	c.grant()
	s.RemoveDevice(gone)
	r := c.get("/v1.0/iot-01/associated-users/devices", url.Values{"size": {"20"}})
	if !r.Success || !strings.Contains(string(r.Result), keep) || strings.Contains(string(r.Result), gone) {
		t.Errorf("list after RemoveDevice: %+v", r)
	}
	if r := c.get("/v1.0/iot-03/devices/status", url.Values{"device_ids": {gone}}); r.Success || r.Code != 1106 {
		t.Errorf("status of a removed device: %+v", r)
	}
	defer func() {
		if recover() == nil {
			t.Error("removing an unknown device did not panic")
		}
	}()
	s.RemoveDevice(gone)
}
