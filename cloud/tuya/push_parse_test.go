package tuya

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// testPushSecret's characters 8..23 key the pushed data.
const testPushSecret = "S3cr3tAc" + "cessSecret012345" + "6789abcd"

// sealECB and sealGCM encrypt as the message service does, written here
// with the standard library independently of decryptPushData.
func sealECB(t testing.TB, plain, key []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	in := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += aes.BlockSize {
		block.Encrypt(out[i:], in[i:i+aes.BlockSize])
	}
	return out
}

func sealGCM(t testing.TB, plain, key []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789ab")
	return aead.Seal(append([]byte(nil), nonce...), nonce, plain, nil)
}

// frameOf wraps business data as the consumer receives it.
func frameOf(t testing.TB, protocol int, data []byte, gcm bool) []byte {
	key := pushKey(testPushSecret)
	var sealed []byte
	if gcm {
		sealed = sealGCM(t, data, key)
	} else {
		sealed = sealECB(t, data, key)
	}
	payload, _ := json.Marshal(map[string]any{"protocol": protocol, "pv": "2.0", "t": 1700000000000,
		"data": base64.StdEncoding.EncodeToString(sealed), "sign": "x"})
	props := map[string]string{}
	if gcm {
		props["em"] = "aes_gcm"
	}
	frame, _ := json.Marshal(map[string]any{"messageId": "CAEQ1:1:-1", "payload": base64.StdEncoding.EncodeToString(payload),
		"properties": props, "publishTime": "2026-01-01T00:00:00.000Z", "redeliveryCount": 0, "key": ""})
	return frame
}

func TestPushKeyAndPassword(t *testing.T) {
	if got := string(pushKey(testPushSecret)); got != "cessSecret012345" {
		t.Fatalf("key %q, want the secret's characters 8..23", got)
	}
	if pushKey("short") != nil {
		t.Fatal("a key from a secret shorter than 24 characters")
	}
	// md5hex("secret") = 5ebe2294ecd0e0f08eab7690d2a6ee69; characters
	// 8..23 of md5hex("acc5ebe2294ecd0e0f08eab7690d2a6ee69"), computed
	// with Python's hashlib.
	got := pushPassword("acc", "secret")
	if got != "d7d8b63abaaa5a79" {
		t.Fatalf("password %q, want d7d8b63abaaa5a79", got)
	}
	if got == pushPassword("acc", "secret2") || got == pushPassword("acd", "secret") {
		t.Fatal("the password does not depend on both the access id and the secret")
	}
}

func TestDecryptPushData(t *testing.T) {
	key := pushKey(testPushSecret)
	plain := []byte(`{"devId":"bf01","status":[]}`)
	for name, tc := range map[string]struct {
		data []byte
		gcm  bool
		ok   bool
	}{
		"ecb":                {sealECB(t, plain, key), false, true},
		"gcm":                {sealGCM(t, plain, key), true, true},
		"ecb wrong key":      {sealECB(t, plain, []byte("0123456789abcdef")), false, false},
		"gcm wrong key":      {sealGCM(t, plain, []byte("0123456789abcdef")), true, false},
		"gcm truncated":      {sealGCM(t, plain, key)[:20], true, false},
		"gcm flipped":        {append(sealGCM(t, plain, key)[:30], 'x'), true, false},
		"ecb not blocks":     {sealECB(t, plain, key)[:17], false, false},
		"ecb empty":          {nil, false, false},
		"gcm read as ecb":    {sealGCM(t, plain, key), false, false},
		"ecb read as gcm":    {sealECB(t, plain, key), true, false},
		"ecb no padding tag": {sealECB(t, plain, key)[:16], false, false},
	} {
		got, err := decryptPushData(tc.data, key, tc.gcm)
		if tc.ok && (err != nil || !bytes.Equal(got, plain)) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
		if !tc.ok && err == nil && bytes.Equal(got, plain) {
			t.Errorf("%s: decrypted although it should not", name)
		}
		if err != nil && strings.Contains(err.Error(), string(key)) {
			t.Errorf("%s: the error names the key", name)
		}
	}
}

func TestParsePushFrames(t *testing.T) {
	key := pushKey(testPushSecret)
	status := `{"dataId":"AAXI3c1i6","devId":"bf0123456789abcdef","productKey":"awgmk9pi","status":[
		{"code":"switch_1","value":false,"t":1628229842692,"1":"false"},
		{"code":"cur_power","value":123,"t":1628229842692,"19":"123"},
		{"code":"","value":1},{"code":"x"},{"code":"big","value":"` + strings.Repeat("x", 2000) + `"}]}`
	iot := `{"bizCode":"devicePropertyMessage","bizData":{"devId":"bf0123456789abcdef","productId":"p",
		"properties":[{"code":"switch_1","dpId":1,"time":1700000000001,"value":true}]},"ts":1700000000001,"extra":{"new":1}}`
	for name, tc := range map[string]struct {
		proto int
		data  string
		want  pushKind
		check func(pushMessage) bool
		err   error
	}{
		"legacy status": {protoStatus, status, pushStatus, func(m pushMessage) bool {
			return m.devID == "bf0123456789abcdef" && m.dataID == "AAXI3c1i6" && len(m.items) == 2 && m.items[0].t == 1628229842692
		}, nil},
		"iot core status": {protoProperties, iot, pushStatus, func(m pushMessage) bool {
			return len(m.items) == 1 && m.items[0].code == "switch_1" && m.items[0].t == 1700000000001
		}, nil},
		"online":  {protoEvent, `{"devId":"bf01","bizCode":"online","bizData":{"time":146052438362}}`, pushOnline, nil, nil},
		"offline": {protoDevice, `{"bizCode":"deviceOffline","bizData":{"devId":"bf01","time":1}}`, pushOffline, nil, nil},
		"rename": {protoEvent, `{"devId":"bf01","bizCode":"nameUpdate","bizData":{"name":" Desk\u0007 Lamp "}}`, pushRename,
			func(m pushMessage) bool { return m.name == "Desk Lamp" }, nil},
		"delete":          {protoEvent, `{"devId":"bf01","bizCode":"delete","bizData":{}}`, pushRelist, nil, nil},
		"bind user":       {protoEvent, `{"devId":"bf01","bizCode":"bindUser","bizData":{"uid":"ay1"}}`, pushRelist, nil, nil},
		"dp renamed":      {protoEvent, `{"devId":"bf01","bizCode":"dpNameUpdate","bizData":{}}`, pushIgnored, nil, nil},
		"unknown event":   {protoEvent, `{"devId":"bf01","bizCode":"somethingNew"}`, pushIgnored, nil, errUnknownEvent},
		"event message":   {protoProperties, `{"bizCode":"deviceEventMessage","bizData":{"devId":"bf01"}}`, pushIgnored, nil, errUnknownEvent},
		"unknown proto":   {99, `{"devId":"bf01"}`, pushIgnored, nil, errUnknownProtocol},
		"bad device id":   {protoStatus, `{"devId":"../x","status":[{"code":"a","value":1}]}`, pushIgnored, nil, &frameError{}},
		"no items":        {protoStatus, `{"devId":"bf01","status":[]}`, pushStatus, nil, &frameError{}},
		"rename no name":  {protoEvent, `{"devId":"bf01","bizCode":"nameUpdate","bizData":{"name":"\u0000"}}`, pushRename, nil, &frameError{}},
		"status not list": {protoStatus, `{"devId":"bf01","status":{}}`, pushStatus, nil, &frameError{}},
	} {
		for _, gcm := range []bool{false, true} {
			f, err := parseFrame(frameOf(t, tc.proto, []byte(tc.data), gcm))
			if err != nil || f.messageID != "CAEQ1:1:-1" || f.gcm != gcm {
				t.Fatalf("%s: frame %+v, %v", name, f, err)
			}
			pl, err := openPayload(f.payload, key, f.gcm)
			if err != nil || pl.protocol != tc.proto {
				t.Fatalf("%s: payload %+v, %v", name, pl, err)
			}
			m, err := parseMessage(pl.protocol, pl.data)
			var fe *frameError
			switch {
			case tc.err == nil && err != nil:
				t.Errorf("%s: %v", name, err)
			case errors.As(tc.err, &fe):
				if !errors.As(err, &fe) || fe.kind != cloud.PushParseError {
					t.Errorf("%s: error %v, want a parse error", name, err)
				}
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Errorf("%s: error %v, want %v", name, err, tc.err)
			case tc.err == nil && (m.kind != tc.want || (tc.check != nil && !tc.check(m))):
				t.Errorf("%s: message %+v", name, m)
			}
		}
	}
}

func TestParsePushFrameFailures(t *testing.T) {
	key := pushKey(testPushSecret)
	ok := frameOf(t, protoStatus, []byte(`{"devId":"bf01","status":[{"code":"a","value":1}]}`), false)
	for name, tc := range map[string]struct {
		frame  string
		kind   string
		withID bool
	}{
		"not json":      {`nope`, cloud.PushParseError, false},
		"no message id": {`{"payload":"e30="}`, cloud.PushParseError, false},
		"bad id":        {`{"messageId":"a b","payload":"e30="}`, cloud.PushParseError, false},
		"no payload":    {`{"messageId":"m1"}`, cloud.PushParseError, true},
		"bad base64":    {`{"messageId":"m1","payload":"!!!"}`, cloud.PushParseError, true},
		"huge":          {`{"messageId":"m1","payload":"` + strings.Repeat("QUFB", 100000) + `"}`, cloud.PushParseError, true},
		"payload junk":  {`{"messageId":"m1","payload":"` + base64.StdEncoding.EncodeToString([]byte("[1]")) + `"}`, cloud.PushParseError, true},
		"no data": {`{"messageId":"m1","payload":"` + base64.StdEncoding.EncodeToString([]byte(`{"protocol":4}`)) + `"}`,
			cloud.PushParseError, true},
		"data not b64": {`{"messageId":"m1","payload":"` + base64.StdEncoding.EncodeToString([]byte(`{"protocol":4,"data":"%%"}`)) + `"}`,
			cloud.PushParseError, true},
		"wrong key": {`{"messageId":"m1","payload":"` + base64.StdEncoding.EncodeToString([]byte(`{"protocol":4,"data":"`+
			base64.StdEncoding.EncodeToString(sealECB(t, []byte(`{"a":1}`), []byte("0123456789abcdef")))+`"}`)) + `"}`,
			cloud.PushDecryptError, true},
	} {
		f, err := parseFrame([]byte(tc.frame))
		if err == nil {
			_, err = openPayload(f.payload, key, f.gcm)
		}
		if err == nil || frameKind(err) != tc.kind || (f.messageID != "") != tc.withID {
			t.Errorf("%s: %v (%s), id %q", name, err, frameKind(err), f.messageID)
		}
	}
	if _, err := parseFrame(ok); err != nil {
		t.Fatal(err)
	}
}

func FuzzPushFrame(f *testing.F) {
	f.Add(frameOf(f, protoStatus, []byte(`{"dataId":"d","devId":"bf01","status":[{"code":"switch_1","value":true,"t":1}]}`), false))
	f.Add(frameOf(f, protoProperties, []byte(`{"bizCode":"devicePropertyMessage","bizData":{"devId":"bf01","properties":[{"code":"a","value":1}]}}`), true))
	f.Add(frameOf(f, protoEvent, []byte(`{"devId":"bf01","bizCode":"nameUpdate","bizData":{"name":"x"}}`), false))
	f.Add([]byte(`{"messageId":"m","payload":"e30=","properties":{"em":"aes_gcm"},"redeliveryCount":"2"}`))
	f.Add([]byte(`{"messageId":1}`))
	f.Add([]byte(``))
	key := pushKey(testPushSecret)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := parseFrame(raw)
		if err != nil {
			if k := frameKind(err); k != cloud.PushParseError {
				t.Fatalf("frame error of kind %q", k)
			}
			return
		}
		if fr.messageID == "" || len(fr.payload) > maxPayloadBytes {
			t.Fatalf("frame accepted with id %q and %d payload bytes", fr.messageID, len(fr.payload))
		}
		pl, err := openPayload(fr.payload, key, fr.gcm)
		if err != nil {
			return
		}
		checkMessage(t, pl.protocol, pl.data)
	})
}

func FuzzPushMessage(f *testing.F) {
	for _, seed := range []struct {
		proto int
		data  string
	}{
		{protoStatus, `{"dataId":"d","devId":"bf01","status":[{"code":"switch_1","value":true,"t":1628229842692,"1":"true"}]}`},
		{protoProperties, `{"bizCode":"devicePropertyMessage","bizData":{"devId":"bf01","properties":[{"code":"add_ele","dpId":17,"time":"12","value":"3"}]},"ts":1}`},
		{protoEvent, `{"devId":"bf01","bizCode":"online","bizData":{"time":1}}`},
		{protoDevice, `{"bizCode":"deviceNameUpdate","bizData":{"devId":"bf01","name":"n"}}`},
		{protoEvent, `{"devId":"bf01","bizCode":"delete"}`},
		{0, `{}`}, {protoStatus, `[]`}, {protoStatus, `{"devId":"bf01","status":[null,1,"x",{"code":1}]}`},
	} {
		f.Add(seed.proto, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, proto int, data []byte) {
		checkMessage(t, proto, data)
	})
}

// checkMessage parses decrypted data and checks what an accepted message
// promises.
func checkMessage(t *testing.T, proto int, data []byte) {
	m, err := parseMessage(proto, data)
	if err != nil {
		if !errors.Is(err, errUnknownProtocol) && !errors.Is(err, errUnknownEvent) && frameKind(err) != cloud.PushParseError {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if m.kind != pushIgnored && !validDeviceID(m.devID) {
		t.Fatalf("message of kind %d for device id %q", m.kind, m.devID)
	}
	switch m.kind {
	case pushStatus:
		if len(m.items) == 0 || len(m.items) > maxPushItems {
			t.Fatalf("status with %d items", len(m.items))
		}
		for _, it := range m.items {
			if it.code == "" || len(it.code) > 64 || len(it.value) == 0 || len(it.value) > 1024 || it.t < 0 || !json.Valid(it.value) {
				t.Fatalf("item %+v", it)
			}
		}
	case pushRename:
		if m.name == "" || len(m.name) > maxPushName+len("…") {
			t.Fatalf("rename to %q", m.name)
		}
	}
}
