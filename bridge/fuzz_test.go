package bridge

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for the outside input the bridge parses besides command
// topics and /set payloads (command_test.go): bridge API requests, device
// topics set over the API, and topics made from cloud device names.

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `{"transaction":"t-1"}`, `{"transaction":{"a":[1,{"b":null}]},"id":"X"}`,
		`{"id":"A","options":{"topic":"kitchen/kettle","name":"Kettle","disabled":false}}`,
		`{"from":"lamp","to":"Lamp 2"}`, `{"level":"debug","component":"kasa"}`, `{"account":"home"}`,
		`{"transaction":1,"bogus":true}`, `{"id":5}`, `{"options":"x"}`, `[]`, `"x"`, `{"a":1}{"b":2}`,
		`{"transaction":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, "\xff\xfe{", `{"ID":"x","Transaction":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := decodeRequest(payload)
		if len(payload) > maxPayload && err == nil {
			t.Fatalf("a payload of %d bytes was accepted", len(payload))
		}
		if req.Transaction != nil && !json.Valid(req.Transaction) {
			t.Fatalf("transaction %q is not valid JSON", req.Transaction)
		}
		// Whatever came in, the answer encodes (the transaction is echoed).
		resp := apiResponse{Status: "error", Data: struct{}{}, Transaction: req.Transaction}
		if err != nil {
			resp.Error = err.Error()
		}
		if _, mErr := json.Marshal(resp); mErr != nil {
			t.Fatalf("response for %q does not encode: %v", payload, mErr)
		}
	})
}

func FuzzCheckTopic(f *testing.F) {
	for _, s := range []string{"kitchen/kettle", "lamp", "bridge", "a/set", "a//b", "/a", "a/", "+", "#", "a/+/b",
		"ünï", "UPPER", "a\x00b", "lamp/availability", "x/get", strings.Repeat("a/", 100) + "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if checkTopic(topic) != nil {
			return
		}
		if topic == "" || strings.ContainsAny(topic, "+#\x00 ") || strings.Contains(topic, "//") ||
			strings.HasPrefix(topic, "/") || strings.HasSuffix(topic, "/") {
			t.Fatalf("accepted topic %q", topic)
		}
		// A device with this topic receives its commands, and nothing else
		// of the bridge's reaches it.
		for _, suffix := range []string{"/set", "/get", "/set/state"} {
			ct, ok := parseCommandTopic("kasa2mqtt", "kasa2mqtt/"+topic+suffix)
			if !ok || ct.device != topic {
				t.Fatalf("command %s of topic %q parses as %+v, %v", suffix, topic, ct, ok)
			}
		}
		if _, isReq := isRequestTopic("kasa2mqtt", "kasa2mqtt/"+topic+"/set"); isReq {
			t.Fatalf("topic %q collides with bridge requests", topic)
		}
	})
}

func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Living Room Lamp", "Küche Süd", "客厅", "a/b+c#d", "", "  --  ", "Ǆemal ﬁle", "\xff\xfe", strings.Repeat("Long Name ", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s := slugify(name)
		if s == "" {
			return
		}
		if len(s) > 64 || !topicPattern.MatchString(s) || strings.Contains(s, "/") {
			t.Fatalf("slugify(%q) = %q: not one topic level of [a-z0-9_-] up to 64 bytes", name, s)
		}
		if strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") {
			t.Fatalf("slugify(%q) = %q: untrimmed separators", name, s)
		}
	})
}

// FuzzPayloadText: a logged payload is valid UTF-8 without a control or
// other unprintable character, at most about 200 bytes of it plus its
// length, and unchanged when it is short printable text.
func FuzzPayloadText(f *testing.F) {
	for _, s := range []string{`{"color_temp":2700}`, "\x1b[31mON\n", "\xff\xfe", "\u202e", strings.Repeat("é", 150)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got := payloadText(p)
		if !utf8.ValidString(got) {
			t.Fatalf("%q rendered as invalid UTF-8 %q", p, got)
		}
		for _, r := range got {
			if !strconv.IsPrint(r) {
				t.Fatalf("%q rendered with the unprintable %U: %q", p, r, got)
			}
		}
		if len(got) > 4*maxLoggedPayload+40 {
			t.Fatalf("%d bytes rendered as %d", len(p), len(got))
		}
		printable := utf8.Valid(p) && len(p) <= maxLoggedPayload && !strings.ContainsFunc(string(p), func(r rune) bool { return !strconv.IsPrint(r) })
		if printable && got != string(p) {
			t.Fatalf("printable %q rendered as %q", p, got)
		}
	})
}
