package kasa

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"error_code":0,"result":{"token":"abc","refreshToken":"def"}}`,
		`{"error_code":-20651,"msg":"Token expired"}`,
		`{"error_code":"-20571","msg":"Device is offline"}`,
		`{"error_code":0}`,
		`{"error_code":1e3}`,
		`{"error_code":-1.0,"msg":5}`,
		`[]`, `null`, ``, `{"result":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := decodeEnvelope("passthrough", data)
		if err != nil {
			_ = err.Error()
			var ae *APIError
			if errors.As(err, &ae) && ae.Code == 0 {
				t.Fatalf("APIError with code 0 for %q", data)
			}
			return
		}
		if !json.Valid(res) {
			t.Fatalf("result %q is not valid JSON", res)
		}
	})
}

func FuzzParsePassthroughResult(f *testing.F) {
	for _, seed := range []string{
		`{"responseData":"{\"system\":{\"get_sysinfo\":{\"relay_state\":1,\"err_code\":0}},\"emeter\":{\"get_realtime\":{\"power_mw\":1000}}}"}`,
		`{"responseData":{"system":{"set_relay_state":{"err_code":0}}}}`,
		`{"responseData":"{\"emeter\":{\"err_code\":-1,\"err_msg\":\"module not support\"}}"}`,
		`{"responseData":"{\"system\":{\"get_sysinfo\":{\"err_code\":\"x\"}}}"}`,
		`{"responseData":"\"nested\""}`, `{"responseData":null}`, `{}`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := parsePassthroughResult(data)
		if err != nil {
			return
		}
		for _, mm := range [][2]string{{"system", "get_sysinfo"}, {"emeter", "get_realtime"}, {"system", "set_relay_state"}} {
			m, err := resp.result(mm[0], mm[1])
			if err != nil {
				if !strings.Contains(err.Error(), mm[0]+"."+mm[1]) {
					t.Fatalf("error %q does not name %s.%s", err, mm[0], mm[1])
				}
				continue
			}
			if si, err := parseSysinfo(m); err == nil {
				_ = deviceCaps(si, "")
			}
			checkReading(t, m)
		}
	})
}

// FuzzResponseDataFastPath: the one-pass reading of responseData gives
// what reading it level by level gives, for any result.
func FuzzResponseDataFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"responseData":"{\"system\":{}}"}`, `{"responseData":{"system":{}}}`, `{"responseData":null}`,
		`{"responseData":"a","other":1}`, `{"responseData":"a","responseData":"b"}`, `{"responsedata":"x"}`,
		`{"other":"x"}`, `{}`, `null`, `"x"`, ` {"responseData":"\u00e9\"q\""} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, result []byte) {
		got, gerr := responseData(result)
		want, werr := responseDataLenient(result)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || string(got) != string(want) {
			t.Fatalf("responseData(%q) = %q, %v; level by level %q, %v", result, got, gerr, want, werr)
		}
	})
}

// FuzzDeviceResponseFastPath: the one-pass decoding of a device's answer
// gives exactly the answers (maps and errors) of the lenient module by
// module decoding, for any responseData.
func FuzzDeviceResponseFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"system":{"get_sysinfo":{"relay_state":1,"err_code":0}},"emeter":{"get_realtime":{"power_mw":1000}}}`,
		`{"emeter":{"err_code":-1,"err_msg":"module not support"}}`,
		`{"emeter":{"err_code":{"x":{}},"get_realtime":{}}}`,
		`{"system":{"get_sysinfo":{"err_code":"x"}}}`,
		`{"system":null,"emeter":{"get_realtime":null}}`,
		`{"system":{"get_sysinfo":{}},"system":{"set_relay_state":{"err_code":-3}}}`,
		`{"system":{"get_sysinfo":[]}}`, ` {"system":{}} `, `{}`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	calls := [][2]string{{"system", "get_sysinfo"}, {"emeter", "get_realtime"}, {"system", "set_relay_state"},
		{"emeter", "err_code"}, {"x", "get"}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		q, _ := json.Marshal(string(doc))
		fast, err := parsePassthroughResult(json.RawMessage(`{"responseData":` + string(q) + `}`))
		if err != nil {
			if lenient, ok := jsonv.Object(doc); ok {
				t.Fatalf("refused %q, which the lenient decoding reads as %v: %v", doc, lenient, err)
			}
			return
		}
		raw, ok := jsonv.Object(fast.doc) // doc as the string carried it (invalid UTF-8 replaced)
		if !ok {
			t.Fatalf("accepted %q, which is not a JSON object", doc)
		}
		slow := &deviceResponse{doc: fast.doc, raw: raw}
		for _, c := range calls {
			got, gerr := fast.result(c[0], c[1])
			want, werr := slow.result(c[0], c[1])
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s.%s of %q: %v, %v; the lenient decoding gives %v, %v", c[0], c[1], doc, got, gerr, want, werr)
			}
		}
	})
}

func FuzzParseSysinfo(f *testing.F) {
	for _, seed := range []string{
		`{"sw_ver":"1.0.12","hw_ver":"5.0","model":"HS103(US)","alias":"Lamp","mac":"50:C7:BF:01:02:03","feature":"TIM","relay_state":1,"led_off":0,"rssi":-52,"err_code":0}`,
		`{"model":"HS300(US)","feature":"TIM:ENE","child_num":2,"children":[{"id":"AB00","state":1,"alias":"One"},{"id":"AB01","state":0,"alias":"VHdv"}]}`,
		`{"relay_state":"1","led_off":2,"rssi":1e400,"children":{"id":1}}`,
		`{"children":[null,{"id":null},{"id":"A","state":"1"}]}`,
		`{}`,
		`{"model":"KL130(US)","mic_type":"IOT.SMARTBULB","is_dimmable":1,"is_color":1,"is_variable_color_temp":1,"light_state":{"on_off":0,"dft_on_state":{"brightness":30,"color_temp":0,"hue":240,"saturation":100}}}`,
		`{"model":"KL430(US)","mic_type":"IOT.SMARTBULB","length":16,"is_color":"1","light_state":{"on_off":1,"hue":1e9,"brightness":-4}}`,
		`{"dev_name":"Smart Wi-Fi Dimmer","relay_state":1,"brightness":0,"led_off":0}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := jsonv.Object(data)
		if !ok {
			return
		}
		si, err := parseSysinfo(m)
		if err != nil {
			return
		}
		caps := deviceCaps(si, "")
		bulb := si.Kind == lightBulb || si.Kind == lightStrip
		if !bulb && (len(caps) == 0 || caps[len(caps)-1] != cloud.CapReboot) {
			t.Fatalf("caps %v do not end with reboot", caps)
		}
		checkLightCaps(t, si, caps)
		if si.isStrip() && (len(caps) > 0 && caps[0] == cloud.CapRelay) {
			t.Fatalf("strip declares a relay: %v", caps)
		}
		if si.RSSI != nil && (*si.RSSI > 0 || *si.RSSI < -150) {
			t.Fatalf("implausible RSSI %d accepted", *si.RSSI)
		}
		seen := map[string]bool{}
		for _, c := range si.Children {
			if !validID(c.ID) || seen[c.ID] {
				t.Fatalf("child id %q invalid or repeated", c.ID)
			}
			seen[c.ID] = true
			checkPrintable(t, c.Alias)
		}
		if si.MAC != "" && normalizeMAC(si.MAC) != si.MAC {
			t.Fatalf("MAC %q not normalised", si.MAC)
		}
	})
}

func FuzzParseEmeter(f *testing.F) {
	for _, seed := range []string{
		`{"current":0.014937,"power":0.928511,"total":55.139,"voltage":231.067823,"err_code":0}`,
		`{"current_ma":502,"power_mw":60500,"total_wh":2250,"voltage_mv":120400,"err_code":0}`,
		`{"power":"NaN","voltage":"-Inf","current":-1,"total":"1e308"}`,
		`{"power_mw":1e400,"voltage_mv":"1e3","total":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := jsonv.Object(data)
		if !ok {
			return
		}
		checkReading(t, m)
	})
}

// checkReading asserts that every value parseEmeter lets through is
// publishable: finite, not negative, within the plausibility limits.
func checkReading(t *testing.T, m map[string]json.RawMessage) {
	t.Helper()
	r, _ := parseEmeter(m)
	for _, v := range []struct {
		p     *float64
		limit float64
	}{{r.PowerW, cloud.MaxPowerW}, {r.VoltageV, cloud.MaxVoltageV}, {r.CurrentA, cloud.MaxCurrentA}, {r.TotalKWh, cloud.MaxEnergyCounterKWh}} {
		if v.p == nil {
			continue
		}
		if x := *v.p; math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > v.limit {
			t.Fatalf("implausible value %v let through from %v", x, m)
		}
	}
}

func FuzzDecodeAlias(f *testing.F) {
	for _, seed := range []string{"RGlzaHdhc2hlcg==", "Kitchen", "Lamp", "", "S8O8Y2hlIOWvhg==", "AAEC", "\x00\xff", "ab\ncd", "  x  "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := decodeAlias(s)
		checkPrintable(t, got)
		if _, decoded := decodeBase64Alias(s); !decoded && utf8.ValidString(s) && text.Printable(s) == s && got != s {
			t.Fatalf("printable non-base64 alias %q changed to %q", s, got)
		}
	})
}

func checkPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			t.Fatalf("%q contains the non-printable %U", s, r)
		}
	}
}

var macRE = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){5}$`)

func FuzzNormalizeMAC(f *testing.F) {
	for _, seed := range []string{"50C7BF010203", "50:c7:bf:01:02:03", "50-C7-BF-01-02-03", "", "zz", "50C7BF0102030405"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := normalizeMAC(s)
		if got == "" {
			return
		}
		if !macRE.MatchString(got) || normalizeMAC(got) != got {
			t.Fatalf("normalizeMAC(%q) = %q", s, got)
		}
	})
}

func FuzzCheckAppServerURL(f *testing.F) {
	for _, seed := range []string{
		"", "https://eu-wap.tplinkcloud.com", "https://evil.example.com", "http://127.0.0.1:8080",
		"https://u:p@wap.tplinkcloud.com", "https://wap.tplinkcloud.com:444", "https://x.tplinkcloud.com.evil",
		"https://a%2f.tplinkcloud.com", "HTTPS://WAP.TPLINKCLOUD.COM/?token=1",
	} {
		f.Add(seed)
	}
	base, _ := url.Parse("http://127.0.0.1:8080")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := checkAppServerURL(s, base)
		if err != nil {
			if !errors.Is(err, cloud.ErrRefused) {
				t.Fatalf("refusal %v does not wrap ErrRefused", err)
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil {
			t.Fatalf("accepted %q became unparseable %q", s, got)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q keeps user info, query or fragment: %q", s, got)
		}
		same := u.Scheme == base.Scheme && u.Host == base.Host
		host := u.Hostname()
		vendor := u.Scheme == "https" && (u.Port() == "" || u.Port() == "443") &&
			(host == "tplinkcloud.com" || strings.HasSuffix(host, ".tplinkcloud.com"))
		if !same && !vendor {
			t.Fatalf("checkAppServerURL(%q) accepted foreign %q", s, got)
		}
	})
}

func FuzzParseDeviceList(f *testing.F) {
	for _, seed := range []string{
		`{"deviceList":[{"deviceId":"AA","alias":"RGlzaHdhc2hlcg==","deviceType":"IOT.SMARTPLUGSWITCH","status":1,"deviceMac":"50C7BF010203"}]}`,
		`{"deviceList":[{"deviceId":"AA"},{"deviceId":"AA"},{"deviceId":5},null,"x"]}`,
		`{"deviceList":null}`, `{}`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, _, err := parseDeviceList(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if !validID(r.ID) || seen[r.ID] {
				t.Fatalf("row id %q invalid or repeated", r.ID)
			}
			seen[r.ID] = true
			checkPrintable(t, r.Alias)
			if r.Supported != strings.HasPrefix(r.DeviceType, "IOT.") {
				t.Fatalf("row %+v: Supported inconsistent", r)
			}
		}
	})
}

func FuzzDecodeV2(f *testing.F) {
	for _, seed := range []string{
		`{"error_code":0,"result":{"token":"t","refreshToken":"r"}}`,
		`{"error_code":0,"result":{"errorCode":"-20677","errorMsg":"MFA","MFAProcessId":"p","supportedMFATypes":[1,2]}}`,
		`{"error_code":0,"result":{"errorCode":-20601}}`,
		`{"error_code":-20651,"msg":"Token expired"}`,
		`{"error_code":0,"result":{"errorCode":"1e999"}}`,
		`{"error_code":0,"result":{"errorCode":null}}`,
		`{"error_code":0,"result":[]}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := decodeV2("login", data)
		if err != nil {
			_ = err.Error()
			if ae, ok := errors.AsType[*APIError](err); ok && ae.Code == 0 {
				t.Fatalf("APIError with code 0 for %q", data)
			}
			if res != nil && !json.Valid(res) {
				t.Fatalf("result %q with the error is not valid JSON", res)
			}
			return
		}
		if !json.Valid(res) {
			t.Fatalf("result %q is not valid JSON", res)
		}
		if obj, ok := jsonv.Object(res); ok {
			if code, ok := jsonv.Int(obj["errorCode"]); ok && code != 0 {
				t.Fatalf("nested error %d accepted in %q", code, data)
			}
		}
	})
}

func FuzzParseMFAChallenge(f *testing.F) {
	for _, seed := range []string{
		`{"MFAProcessId":"abc","supportedMFATypes":[1,2]}`,
		`{"mfaProcessId":42,"supportedMFATypes":["email","PUSH"]}`,
		`{"MFAProcessId":null,"supportedMFATypes":{}}`,
		`{"MFAProcessId":1e400}`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, methods := parseMFAChallenge(data)
		if len(methods) == 0 || len(methods) > 2 {
			t.Fatalf("methods %v for %q", methods, data)
		}
		for _, m := range methods {
			if m != MFAPush && m != MFAEmail {
				t.Fatalf("method %q for %q", m, data)
			}
		}
		// The process id lets a code finish a login: it is never shown.
		if msg := (&MFARequiredError{Methods: methods, processID: id}).Error(); len(id) >= 8 && strings.Contains(msg, id) {
			t.Fatalf("error %q shows the process id", msg)
		}
	})
}

func FuzzParseMFAMethod(f *testing.F) {
	for _, seed := range []string{"email", "push", " PUSH ", "sms", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMFAMethod(s)
		if (err == nil) != (m == MFAPush || m == MFAEmail) {
			t.Fatalf("ParseMFAMethod(%q) = %q, %v", s, m, err)
		}
	})
}

// checkLightCaps: a light declares CapLight and never a relay, its light
// capabilities follow its flags, and its state (when it has one) stays
// within the ranges of package cloud.
func checkLightCaps(t *testing.T, si *sysinfo, caps []cloud.Capability) {
	t.Helper()
	light := slices.Contains(caps, cloud.CapLight)
	if light != (si.Kind != notLight) || (light && slices.Contains(caps, cloud.CapRelay)) {
		t.Fatalf("kind %d with caps %v", si.Kind, caps)
	}
	if !light {
		return
	}
	if r, _ := si.kelvinRange(); slices.Contains(caps, cloud.CapColorTemp) != r.Valid() {
		t.Fatalf("caps %v with Kelvin range %v", caps, r)
	}
	s := si.lightState()
	if s == nil {
		return
	}
	if b := s.Brightness; b != nil && (*b <= 0 || *b > 100) {
		t.Fatalf("brightness %v", *b)
	}
	if s.Mode == cloud.ColorModeHS && (*s.Hue < 0 || *s.Hue > 360 || *s.Saturation < 0 || *s.Saturation > 100 || !si.Color) {
		t.Fatalf("hs %v %v on a light with color %v", *s.Hue, *s.Saturation, si.Color)
	}
	if s.Mode == cloud.ColorModeTemp && (!si.VariableTemp || *s.ColorTempK <= 0) {
		t.Fatalf("color_temp %v on a light with variable temperature %v", *s.ColorTempK, si.VariableTemp)
	}
}
