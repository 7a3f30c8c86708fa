package kasatest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// rawCall posts one envelope and returns the raw answer body.
func rawCall(t *testing.T, s *kasatest.Server, method string, params map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "params": params})
	resp, err := s.Client().Post(s.URL(), "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", method, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRewriteNextChangesOnlyTheAnswersOfItsMethod(t *testing.T) {
	s := kasatest.NewServer()
	defer s.Close()
	s.AddAccount("u@example.com", "pw")
	id := s.AddMeteredPlug("u@example.com", "Kettle", "KP115(US)", true)
	tok, _ := login(t, s)
	pass := map[string]any{"token": tok, "deviceId": id, "requestData": `{"emeter":{"get_realtime":{}}}`}

	s.RewriteNext("passthrough", 2, kasatest.Truncate())
	if s.PendingRewrites() != 2 {
		t.Fatalf("PendingRewrites = %d, want 2", s.PendingRewrites())
	}
	list := rawCall(t, s, "getDeviceList", map[string]any{"token": tok})
	if !json.Valid([]byte(list)) {
		t.Fatalf("getDeviceList was rewritten: %s", list)
	}
	for range 2 {
		if b := rawCall(t, s, "passthrough", pass); json.Valid([]byte(b)) {
			t.Fatalf("passthrough not truncated: %s", b)
		}
	}
	if b := rawCall(t, s, "passthrough", pass); !json.Valid([]byte(b)) || s.PendingRewrites() != 0 {
		t.Fatalf("third passthrough still rewritten: %s", b)
	}

	// responseData as an object carries the same document.
	s.RewriteNext("passthrough", 1, kasatest.ResponseDataAsObject())
	var obj struct {
		Result struct {
			ResponseData map[string]any `json:"responseData"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(rawCall(t, s, "passthrough", pass)), &obj); err != nil || obj.Result.ResponseData["emeter"] == nil {
		t.Fatalf("responseData as object: %+v, %v", obj, err)
	}

	// EditResponseData edits the device's answer inside the string.
	s.RewriteNext("passthrough", 1, kasatest.EditResponseData(func(d []byte) []byte {
		return []byte(strings.Replace(string(d), `"err_code":0`, `"err_code":"x"`, 1))
	}))
	if b := rawCall(t, s, "passthrough", pass); !strings.Contains(b, `\"err_code\":\"x\"`) {
		t.Fatalf("responseData not edited: %s", b)
	}

	// Giant streams the size asked for.
	s.RewriteNext("", 1, kasatest.Giant(10<<20))
	if b := rawCall(t, s, "getDeviceList", map[string]any{"token": tok}); len(b) != 10<<20 || !json.Valid([]byte(b)) {
		t.Fatalf("giant answer of %d bytes, valid %v", len(b), json.Valid([]byte(b)))
	}
	// RewriteNext(method, 0, nil) removes a rule.
	s.RewriteNext("login", 5, kasatest.Raw("x"))
	s.RewriteNext("login", 0, nil)
	if s.PendingRewrites() != 0 {
		t.Fatalf("rule not removed: %d pending", s.PendingRewrites())
	}
}
