package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

const (
	testTuyaID     = "p3kt9mqz7v2xw8yfabcd"
	testTuyaSecret = "0123456789abcdef0123456789abcdef"
)

func writeTuyaConfig(t *testing.T, fake *tuyatest.Server) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	t.Setenv("TEST_TUYA_SECRET", testTuyaSecret)
	cfg := "mqtt:\n  server: mqtt://127.0.0.1:1\naccounts:\n  - provider: tuya\n    name: garden\n    access_id: " + testTuyaID +
		"\n    access_secret: ${TEST_TUYA_SECRET}\n    endpoint: " + fake.URL() + "\n    auth: code\nstate_dir: " + stateDir + "\n"
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

func newTuyaFake(t *testing.T) *tuyatest.Server {
	fake := tuyatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddProject(testTuyaID, testTuyaSecret)
	fake.AddPlug(testTuyaID, "Heater", true)
	return fake
}

func checkTokenFile(t *testing.T, stateDir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "tuya-*.json"))
	if len(files) != 1 {
		t.Fatalf("token files: %v", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v mode %v", files[0], err, fi.Mode())
	}
	b, _ := os.ReadFile(files[0])
	if strings.Contains(string(b), testTuyaSecret) {
		t.Fatal("the access secret was stored")
	}
}

func TestTuyaAuthorizeWithTypedCode(t *testing.T) {
	fake := newTuyaFake(t)
	path, stateDir := writeTuyaConfig(t, fake)
	code, out, errOut := runCLI(t, fake.AuthorizeCode(testTuyaID)+"\n", "tuya-authorize", "-c", path, "-listen", "off")
	if code != exitOK {
		t.Fatalf("tuya-authorize exited %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, testTuyaID) || !strings.Contains(out, "Authorised") {
		t.Errorf("output:\n%s", out)
	}
	checkTokenFile(t, stateDir)
	// The daemon's provider now works on the stored tokens.
	code, out, errOut = runCLI(t, "", "devices", "-c", path)
	if code != exitOK || !strings.Contains(out, "Heater") {
		t.Fatalf("devices after authorisation exited %d:\n%s\n%s", code, out, errOut)
	}
	// A code works once.
	if code, _, errOut := runCLI(t, "used-code\n", "tuya-authorize", "-c", path, "-listen", "off"); code == exitOK {
		t.Errorf("a made-up code was accepted: %s", errOut)
	}
}

func TestTuyaAuthorizeCatchesTheRedirect(t *testing.T) {
	fake := newTuyaFake(t)
	path, stateDir := writeTuyaConfig(t, fake)
	var out, errb syncBuffer
	done := make(chan int, 1)
	stdin, w, _ := os.Pipe() // stays open: the code must come from the redirect
	defer w.Close()
	go func() {
		done <- run(context.Background(), []string{"tuya-authorize", "-c", path}, stdin, &out, &errb)
	}()
	re := regexp.MustCompile(`redirect_uri = (http://127\.0\.0\.1:\d+/callback)`)
	var redirect string
	deadline := time.Now().Add(10 * time.Second)
	for redirect == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			redirect = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no redirect_uri printed:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(redirect + "?code=" + fake.AuthorizeCode(testTuyaID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tuya-authorize did not finish after the redirect")
	}
	checkTokenFile(t, stateDir)
}
