package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

const (
	testUser = "owner@example.com"
	testPass = `p"a\s/s{w}ö密`
)

// runCLI runs the command line in-process and returns exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, fake *kasatest.Server, withPassword bool) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	pw := ""
	if withPassword {
		pw = "    password: ${TEST_KASA_PASSWORD}\n"
		t.Setenv("TEST_KASA_PASSWORD", testPass)
	}
	cfg := "mqtt:\n  server: mqtt://127.0.0.1:1\naccounts:\n  - provider: kasa\n    name: home\n    username: " + testUser + "\n" + pw +
		"    url: " + fake.URL() + "\nstate_dir: " + stateDir + "\ndevices:\n  OVERRIDE:\n    topic: custom\n"
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

func newFake(t *testing.T) *kasatest.Server {
	fake := kasatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddAccount(testUser, testPass)
	return fake
}

func TestDevicesPrintsATable(t *testing.T) {
	fake := newFake(t)
	lamp := fake.AddPlug(testUser, "Living Room Lamp", "HS103(US)")
	strip, outlets := fake.AddStrip(testUser, "Desk Strip", "KP303(US)", 3, false)
	fake.AddRawDevice(testUser, map[string]any{
		"deviceId": "TAPO0001", "alias": "Tapo Cam", "deviceType": "SMART.IPCAMERA", "deviceModel": "C200", "status": 1, "appServerUrl": fake.URL(),
	})
	path, _ := writeConfig(t, fake, true)
	code, out, errOut := runCLI(t, "", "devices", "-c", path)
	if code != exitOK {
		t.Fatalf("devices exited %d: %s", code, errOut)
	}
	for _, want := range []string{"NAME", "REGION SERVER", "TOPIC", "Living Room Lamp", lamp, "HS103(US)", "living_room_lamp",
		strip, outlets[2], fake.URL(), "not bridged: SMART.IPCAMERA"} {
		if !strings.Contains(out, want) {
			t.Errorf("devices output lacks %q:\n%s", want, out)
		}
	}
}

func TestLoginStoresTokensNotThePassword(t *testing.T) {
	fake := newFake(t)
	fake.AddPlug(testUser, "Lamp", "HS103(US)")
	path, stateDir := writeConfig(t, fake, false)

	code, out, errOut := runCLI(t, testPass+"\n", "login", "-c", path)
	if code != exitOK {
		t.Fatalf("login exited %d: %s %s", code, out, errOut)
	}
	// The password on stdin: a script reads one line on stdout, the
	// outcome; the prompt and the advice are on stderr.
	if !strings.HasPrefix(out, "Logged in. Tokens stored in ") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(errOut, "Password: ") || !strings.Contains(errOut, "remove the password") {
		t.Errorf("login: stdout %q, stderr %q", out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "*"))
	if len(files) == 0 {
		t.Fatal("login stored nothing")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), testPass) || strings.Contains(string(b), "a\\\\s/s") {
			t.Fatalf("%s contains the password", f)
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	// Without a password in the config, the stored tokens are enough.
	code, out, errOut = runCLI(t, "", "devices", "-c", path)
	if code != exitOK || !strings.Contains(out, "Lamp") {
		t.Fatalf("devices after login exited %d: %s %s", code, out, errOut)
	}
	if n := fake.Calls("login"); n != 1 {
		t.Errorf("%d logins, want 1 (devices must reuse the stored token)", n)
	}

	// A wrong password is reported and fails.
	code, _, errOut = runCLI(t, "wrong\n", "login", "-c", path)
	if code == exitOK || !strings.Contains(errOut, "wrong password") {
		t.Errorf("login with a wrong password exited %d: %s", code, errOut)
	}
}

func TestCheckConfig(t *testing.T) {
	fake := newFake(t)
	path, _ := writeConfig(t, fake, true)
	code, out, errOut := runCLI(t, "", "check-config", "-c", path)
	if code != exitOK {
		t.Fatalf("check-config exited %d: %s", code, errOut)
	}
	if strings.Contains(out, testPass) {
		t.Fatal("check-config printed the password")
	}
	if !strings.Contains(out, "base_topic: kasa2mqtt") {
		t.Errorf("check-config does not show the effective defaults:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("mqtt:\n  sever: mqtt://x\naccounts: []\n"), 0o600)
	code, _, errOut = runCLI(t, "", "check-config", "-c", bad)
	if code != exitConfig || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "sever") {
		t.Errorf("bad config: exit %d, stderr %s", code, errOut)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, out, _ := runCLI(t, "", "version"); code != exitOK || !strings.Contains(out, "kasa2mqtt") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "", "run", "-c", filepath.Join(t.TempDir(), "missing.yaml")); code != exitConfig {
		t.Errorf("missing config: exit %d, want %d", code, exitConfig)
	}
}

func TestDemoServesTheSimulatedFleet(t *testing.T) {
	addr, out, _ := startDemo(t)
	defer func() {
		if !strings.Contains(out.String(), "mosquitto_sub -h 127.0.0.1") {
			t.Errorf("demo did not print how to connect:\n%s", out.String())
		}
	}()

	got := make(chan string, 100)
	var c paho.Client
	deadline := time.Now().Add(10 * time.Second)
	for {
		c = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("demo-test"))
		if tok := c.Connect(); tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("demo broker never accepted a connection")
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer c.Disconnect(50)
	// Exact topics, not "#": mochi v2.7.9 races (under -race) between a
	// wildcard subscribe and a concurrent retained publish.
	filters := map[string]byte{"kasa2mqtt/living_room_lamp": 1, "kasa2mqtt/kettle": 1, "kasa2mqtt/plug_6": 1, "kasa2mqtt/bridge/state": 1, "kasa2mqtt/heater": 1,
		"kasa2mqtt/hall_dimmer": 1, "kasa2mqtt/reading_lamp": 1, "kasa2mqtt/patio_light": 1,
		"homeassistant/device/kasa_73864A805C839A5A83F3CF75FCA6DBA89FB2621D/config": 1}
	// The lights are lit, with their brightness and colour.
	lights := map[string]string{"kasa2mqtt/hall_dimmer": `{"state":"ON","brightness":102,"color_mode":"brightness","led":"ON","rssi":-35}`,
		"kasa2mqtt/reading_lamp": `"state":"ON","brightness":204,"color_mode":"color_temp","color_temp":2700,`,
		"kasa2mqtt/patio_light":  `{"state":"ON","brightness":179,"color_mode":"hs","color":{"h":30,"s":80}}`}
	c.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) {
		if want, ok := lights[m.Topic()]; ok && !strings.Contains(string(m.Payload()), want) {
			return
		}
		select {
		case got <- m.Topic():
		default:
		}
	})
	want := map[string]bool{"kasa2mqtt/living_room_lamp": false, "kasa2mqtt/kettle": false, "kasa2mqtt/plug_6": false, "kasa2mqtt/bridge/state": false,
		"kasa2mqtt/heater": false, "kasa2mqtt/hall_dimmer": false, "kasa2mqtt/reading_lamp": false, "kasa2mqtt/patio_light": false}
	discovery := false
	timeout := time.After(10 * time.Second)
	for remaining := len(want); remaining > 0 || !discovery; {
		select {
		case topic := <-got:
			if seen, ok := want[topic]; ok && !seen {
				want[topic] = true
				remaining--
			}
			if strings.HasPrefix(topic, "homeassistant/device/kasa_") {
				discovery = true
			}
		case <-timeout:
			t.Fatalf("demo topics seen: %v, discovery %v", want, discovery)
		}
	}
	// The Tuya project pushes its changes (its fake message service).
	pushed := make(chan struct{}, 1)
	c.Subscribe("kasa2mqtt/bridge/info", 1, func(_ paho.Client, m paho.Message) {
		if strings.Contains(string(m.Payload()), `"push":{"connected":true`) {
			select {
			case pushed <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("bridge/info never showed the demo's Tuya push connection connected")
	}
}

// syncBuffer is a bytes.Buffer safe for the demo goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
