package tuya

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		in     string
		code   int // 0: success
		result string
		ms     int64
	}{
		{`{"success":true,"t":1700000000123,"result":{"a":1}}`, 0, `{"a":1}`, 1700000000123},
		{`{"success":true,"t":1700000000123}`, 0, `null`, 1700000000123},
		{`{"success":false,"code":1010,"msg":"token invalid","t":1700000000123}`, 1010, "", 1700000000123},
		{`{"success":false,"code":"28841004","msg":"quota"}`, 28841004, "", 0},
		{`{"success":false}`, -1, "", 0},
		{`{"code":2001,"msg":"offline"}`, 2001, "", 0},
		{`{"result":true}`, 0, `true`, 0},
		{`{"success":true,"t":17}`, 0, `null`, 0},
	}
	for _, tc := range tests {
		res, ms, err := decodeEnvelope("GET /x", []byte(tc.in))
		var ae *APIError
		switch {
		case tc.code == 0 && (err != nil || string(res) != tc.result):
			t.Errorf("%s: %s, %v", tc.in, res, err)
		case tc.code != 0 && (!errors.As(err, &ae) || ae.Code != tc.code):
			t.Errorf("%s: err %v, want code %d", tc.in, err, tc.code)
		}
		if ms != tc.ms {
			t.Errorf("%s: t = %d, want %d", tc.in, ms, tc.ms)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`} {
		if _, _, err := decodeEnvelope("GET /x", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAPIError_TextAndSentinels(t *testing.T) {
	tests := []struct {
		code int
		want error
	}{
		{1004, cloud.ErrAuth}, {1106, cloud.ErrAuth}, {2406, cloud.ErrAuth}, {28841002, cloud.ErrAuth},
		{28841105, cloud.ErrAuth}, {28841004, cloud.ErrRateLimited}, {1199, cloud.ErrRateLimited},
		{2001, cloud.ErrDeviceOffline}, {2010, cloud.ErrUnknownDevice}, {2008, cloud.ErrUnsupported},
		{500, cloud.ErrUnavailable}, {1111, cloud.ErrUnavailable}, {1110, cloud.ErrRateLimited},
		{1010, nil}, {1013, nil}, {1100, nil},
	}
	for _, tc := range tests {
		err := &APIError{Op: "GET /x", Code: tc.code, Msg: "m"}
		for _, s := range []error{cloud.ErrAuth, cloud.ErrRateLimited, cloud.ErrDeviceOffline, cloud.ErrUnknownDevice, cloud.ErrUnsupported, cloud.ErrUnavailable} {
			if got := errors.Is(err, s); got != (s == tc.want) {
				t.Errorf("%d: errors.Is(%v) = %v", tc.code, s, got)
			}
		}
		if !strings.Contains(err.Error(), CodeMeaning(tc.code)) {
			t.Errorf("%d: %q lacks its meaning", tc.code, err)
		}
	}
	e := &APIError{Op: "GET /x", Code: 1106, Msg: "permission deny", Hint: "configured data centre: eu"}
	if s := e.Error(); !strings.Contains(s, "1106") || !strings.Contains(s, "configured data centre: eu") || !strings.Contains(s, `"permission deny"`) {
		t.Errorf("Error() = %q", s)
	}
	if CodeMeaning(424242) != "unknown error code" {
		t.Error("unknown code meaning")
	}
}

func TestParseTokenResult(t *testing.T) {
	good := `{"access_token":"a1","refresh_token":"r1","expire_time":7200,"uid":"ay1"}`
	r, err := parseTokenResult(json.RawMessage(good))
	if err != nil || r.AccessToken != "a1" || r.RefreshToken != "r1" || r.ExpireSec != 7200 || r.UID != "ay1" {
		t.Fatalf("%+v, %v", r, err)
	}
	if r, err := parseTokenResult(json.RawMessage(`{"access_token":"a","refresh_token":"r","expire":60}`)); err != nil || r.ExpireSec != 60 {
		t.Errorf("expire field: %+v, %v", r, err)
	}
	for _, bad := range []string{
		`{"refresh_token":"r1","expire_time":7200}`,
		`{"access_token":"a1","expire_time":7200}`,
		`{"access_token":"a1","refresh_token":"r1"}`,
		`{"access_token":"a1","refresh_token":"r1","expire_time":-1}`,
		`{"access_token":"a 1","refresh_token":"r1","expire_time":7200}`,
		`{"access_token":"a1","refresh_token":"../r1","expire_time":7200}`,
		`{"code":1010,"msg":"token invalid"}`, `null`,
	} {
		if _, err := parseTokenResult(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestMakeLayout(t *testing.T) {
	set := func(codes ...string) map[string]bool {
		m := map[string]bool{}
		for _, c := range codes {
			m[c] = true
		}
		return m
	}
	tests := []struct {
		codes   []string
		relay   string
		outlets []string
		energy  bool
	}{
		{[]string{"switch_1", "countdown_1", "cur_power"}, "switch_1", nil, true},
		{[]string{"switch"}, "switch", nil, false},
		{[]string{"switch_2", "switch_10", "switch_1", "switch_usb1"}, "", []string{"switch_1", "switch_2", "switch_10", "switch_usb1"}, false},
		{[]string{"switch", "switch_1", "switch_2", "add_ele"}, "switch", []string{"switch_1", "switch_2"}, true},
		{[]string{"switch_led", "switch_01", "switch_0", "switch_x"}, "", nil, false},
		{[]string{"cur_voltage"}, "", nil, false},
	}
	for _, tc := range tests {
		l := makeLayout(set(tc.codes...))
		if l.relay != tc.relay || !slices.Equal(l.outlets, tc.outlets) || l.hasEnergy() != tc.energy {
			t.Errorf("%v: %+v", tc.codes, l)
		}
	}
	if outletName("Desk", "switch_usb2") != "Desk USB 2" || outletName("Desk", "switch_3") != "Desk 3" {
		t.Error("outlet names")
	}
}

func TestParseSpecification(t *testing.T) {
	raw := `{"category":"cz","functions":[{"code":"switch_1","type":"Boolean","values":"{}"}],
	"status":[{"code":"switch_1","type":"Boolean","values":"{}"},
	{"code":"cur_current","type":"Integer","values":"{\"unit\":\"mA\",\"min\":0,\"max\":30000,\"scale\":0,\"step\":1}"},
	{"code":"cur_power","type":"Integer","values":{"unit":"W","min":0,"max":50000,"scale":1}},
	{"code":"add_ele","type":"Integer","values":"{\"unit\":\"kwh\",\"scale\":42}"}]}`
	spec, err := parseSpecification(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d := spec["switch_1"]; d.Type != "Boolean" || !d.Writable {
		t.Errorf("switch_1 = %+v", d)
	}
	if d := spec["cur_current"]; d.Unit != "mA" || d.Scale != 0 || !d.HasRange || d.Max != 30000 || d.Writable {
		t.Errorf("cur_current = %+v", d)
	}
	if d := spec["cur_power"]; d.Scale != 1 || d.Unit != "W" {
		t.Errorf("cur_power = %+v", d)
	}
	if d := spec["add_ele"]; d.Scale != 0 {
		t.Errorf("out-of-range scale kept: %+v", d)
	}
}

func TestScaled(t *testing.T) {
	tests := []struct {
		raw   string
		code  string
		scale int
		unit  string
		want  float64
		ok    bool
	}{
		{`1234`, dpCurPower, 1, "W", 123.4, true},
		{`2301`, dpCurVoltage, 1, "V", 230.1, true},
		{`537`, dpCurCurrent, 0, "mA", 0.537, true},
		{`537`, dpCurCurrent, 0, "", 0.537, true},
		{`5`, dpCurCurrent, 1, "A", 0.5, true},
		{`1500`, dpAddEle, 3, "kwh", 1.5, true},
		{`150`, dpAddEle, 0, "Wh", 0.15, true},
		{`"12"`, dpCurPower, 0, "W", 12, true},
		{`2`, dpCurPower, 0, "kW", 2000, true},
		{`-1`, dpCurPower, 0, "W", 0, false},
		{`true`, dpCurPower, 0, "W", 0, false},
		{`1e15`, dpCurPower, 1, "W", 0, false},
		{`1000001`, dpCurPower, 1, "W", 100000.1, false},
		{`1000000`, dpCurPower, 1, "W", 100000, true},
		{`1e12`, dpCurVoltage, 1, "V", 0, false},
		{`"1e9"`, dpCurCurrent, 0, "mA", 0, false},
		{`1e15`, dpAddEle, 3, "kwh", 0, false},
		{`1000001`, dpAddEle, 3, "kwh", 0, false},
	}
	for _, tc := range tests {
		got, ok := scaled(json.RawMessage(tc.raw), tc.code, tc.scale, tc.unit)
		if ok != tc.ok || (ok && (got-tc.want > 1e-9 || tc.want-got > 1e-9)) {
			t.Errorf("scaled(%s, %s, %d, %q) = %v, %v; want %v", tc.raw, tc.code, tc.scale, tc.unit, got, ok, tc.want)
		}
	}
}

// The metering limits are package cloud's, shared with the Kasa provider:
// a reading at a limit is kept, one above it refused.
func TestScaled_SharedPlausibilityLimits(t *testing.T) {
	for _, tc := range []struct {
		code, unit string
		limit      float64
	}{
		{dpCurPower, "W", cloud.MaxPowerW}, {dpCurVoltage, "V", cloud.MaxVoltageV},
		{dpCurCurrent, "A", cloud.MaxCurrentA}, {dpAddEle, "kWh", cloud.MaxEnergyReportKWh},
	} {
		for _, v := range []float64{tc.limit, tc.limit * 1.001} {
			raw := json.RawMessage(strconv.FormatFloat(v, 'f', -1, 64))
			if got, ok := scaled(raw, tc.code, 0, tc.unit); ok != (v <= tc.limit) || ok && got != v {
				t.Errorf("scaled(%s, %s, %q) = %v, %v (limit %v)", raw, tc.code, tc.unit, got, ok, tc.limit)
			}
		}
	}
}

func TestQuotaBackoffDoublesToCap(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, quotaBackoff(n))
	}
	want := []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	if !slices.Equal(got, want) {
		t.Errorf("back-offs %v, want %v", got, want)
	}
}

func TestGate_StrikesResetAfterSuccess(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &gate{now: func() time.Time { return now }, log: zap.NewNop()}
	quota := &APIError{Op: "GET /x", Code: codeQuotaUsedUp}
	err := g.observe(quota, false)
	if !errors.Is(err, cloud.ErrRateLimited) || !strings.Contains(err.Error(), "6h0m0s") {
		t.Fatalf("first: %v", err)
	}
	if g.check() == nil {
		t.Fatal("gate open during back-off")
	}
	now = now.Add(7 * time.Hour)
	if g.check() != nil {
		t.Fatal("gate closed after back-off")
	}
	g.observe(nil, false)
	if err := g.observe(quota, false); !strings.Contains(err.Error(), "6h0m0s") {
		t.Errorf("after a success the back-off restarts at 6h: %v", err)
	}
}

func TestBaseURL(t *testing.T) {
	if u, err := baseURL("http://127.0.0.1:8080/", ""); err != nil || u != "http://127.0.0.1:8080" {
		t.Errorf("%q %v", u, err)
	}
	if u, err := baseURL("", "eu-w"); err != nil || u != "https://openapi-weaz.tuyaeu.com" {
		t.Errorf("%q %v", u, err)
	}
	for _, bad := range []string{"openapi.tuyaeu.com", "https://x?y=1", "https://u:p@x", "https://"} {
		if _, err := baseURL(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
