package tuya

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"success":true,"t":1700000000000,"tid":"x","result":{"access_token":"a","expire_time":7200}}`,
		`{"success":false,"code":1010,"msg":"token invalid","t":1700000000000}`,
		`{"success":false,"code":"28841004","msg":"quota"}`,
		`{"success":true}`, `{"success":"true","result":[]}`, `{"code":0,"result":1}`,
		`{"success":false}`, `{"code":1e3}`, `{"t":"1700000000000","success":true,"result":null}`,
		`[]`, `null`, ``, `{"success":false,"code":-0.5,"msg":7}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, ms, err := decodeEnvelope("GET /x", data)
		if ms != 0 && (ms <= 1e12 || ms >= 1e14) {
			t.Fatalf("implausible t %d accepted", ms)
		}
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

func FuzzParseBatchStatus(f *testing.F) {
	for _, seed := range []string{
		`[{"id":"bf1","status":[{"code":"switch_1","value":true},{"code":"cur_power","value":1234},{"code":"add_ele","value":"12","t":1700000000000}]}]`,
		`[{"id":"bf1","online":false,"status":[]},{"id":"bf2"}]`,
		`[{"id":"bf1","status":[{"code":"cur_voltage","value":-5},{"code":"cur_current","value":1e400}]}]`,
		`[{"id":1}]`, `{}`, `null`, `[null,"x",{"status":{}}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseBatchStatus(data)
		if err != nil {
			return
		}
		for id, e := range entries {
			if id == "" {
				t.Fatal("entry without id")
			}
			for code, raw := range e.values {
				for _, c := range []string{dpCurPower, dpCurVoltage, dpCurCurrent, dpAddEle, code} {
					for _, unit := range []string{"", "mA", "kW", "Wh"} {
						v, ok := scaled(raw, c, 3, unit)
						if ok && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > maxReading[c] && maxReading[c] > 0) {
							t.Fatalf("scaled(%s) = %v", raw, v)
						}
					}
				}
				_, _ = jsonv.Bool(raw)
			}
		}
	})
}

func FuzzParseSpecification(f *testing.F) {
	for _, seed := range []string{
		`{"category":"cz","functions":[{"code":"switch_1","type":"Boolean","values":"{}"}],"status":[{"code":"cur_power","type":"Integer","values":"{\"unit\":\"W\",\"min\":0,\"max\":50000,\"scale\":1,\"step\":1}"}]}`,
		`{"functions":[],"status":[{"code":"switch","type":"Boolean","values":{}},{"code":"switch_usb1","type":"Boolean"}]}`,
		`{"status":[{"code":"add_ele","values":"{\"scale\":99}"},{"code":"cur_current","values":"not json"}]}`,
		`{"status":[{"code":"switch_01"},{"code":"switch_2"},{"code":"switch_1"}]}`,
		`[]`, `{"status":"x"}`, `{"status":[{"code":""}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := parseSpecification(data)
		if err != nil {
			return
		}
		codes := map[string]bool{}
		for code, d := range spec {
			if d.Code != code || code == "" {
				t.Fatalf("dp %+v under %q", d, code)
			}
			if d.Scale < 0 || d.Scale > maxScale {
				t.Fatalf("scale %d accepted", d.Scale)
			}
			codes[code] = true
		}
		l := makeLayout(codes)
		if l.relay != "" && !codes[l.relay] {
			t.Fatalf("relay %q not a code", l.relay)
		}
		for _, o := range l.outlets {
			id := outletID("bf0123456789abcdef01", o)
			if !validDeviceID(id) || o == l.relay {
				t.Fatalf("outlet id %q", id)
			}
		}
	})
}

func FuzzParseDevicePage(f *testing.F) {
	for _, seed := range []string{
		`{"devices":[{"id":"bf1","name":"Lamp","category":"cz","product_name":"Plug","online":true,"status":[{"code":"switch_1","value":false}]}],"has_more":true,"last_row_key":"k"}`,
		`[{"id":"bf1","name":"\u0000Lamp\u202e","category":"pc","sub":true}]`,
		`{"list":[{"id":"bad id/"},{"id":5},{"isOnline":true,"id":"x"}]}`,
		`{"devices":"x"}`, `null`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pg, err := parseDevicePage(data)
		if err != nil {
			return
		}
		for _, r := range pg.rows {
			if !validDeviceID(r.dev.ID) {
				t.Fatalf("invalid id %q accepted", r.dev.ID)
			}
			for _, s := range []string{r.dev.Name, r.dev.Model, r.dev.Category, r.dev.ProductID} {
				for _, c := range s {
					if c != ' ' && !unicode.IsPrint(c) {
						t.Fatalf("unprintable %q in %q", c, s)
					}
				}
				if strings.TrimSpace(s) != s {
					t.Fatalf("untrimmed %q", s)
				}
			}
		}
	})
}

func FuzzParseTokenResult(f *testing.F) {
	for _, seed := range []string{
		`{"access_token":"a1","refresh_token":"r1","expire_time":7200,"uid":"ay1"}`,
		`{"access_token":"a1","refresh_token":"r1","expire":"7200"}`,
		`{"access_token":"a1","refresh_token":"r/1","expire_time":7200}`,
		`{"access_token":"","refresh_token":"r1","expire_time":7200}`,
		`{"access_token":"a1","refresh_token":"r1","expire_time":0}`, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseTokenResult(data)
		if err != nil {
			return
		}
		if !safeHeader(r.AccessToken) || !safeSegment(r.RefreshToken) || r.ExpireSec <= 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}
