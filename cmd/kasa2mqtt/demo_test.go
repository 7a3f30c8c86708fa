package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The demo serves the operations endpoint and prints the health command
// that checks it, which then succeeds (`kasa2mqtt health` against the demo
// was refused: it had no endpoint).
func TestDemoHealthCommand(t *testing.T) {
	_, out, _ := startDemo(t)
	url := waitMatch(t, out, `check them with:\n\n  kasa2mqtt health -url (\S+)\n`)
	if code, o, e := runCLI(t, "", "health", "-url", url); code != exitOK {
		t.Fatalf("health -url %s: exit %d\n%s%s", url, code, o, e)
	}
}

// The demo's prose is filled to bannerWidth: no line is longer, and no
// line of a paragraph could have taken the next line's first word (the
// opening paragraph broke raggedly after the lights were added). Indented
// lines (commands) are left as they are, for copying.
func TestDemoBannerIsFilled(t *testing.T) {
	_, out, _ := startDemo(t)
	waitMatch(t, out, `\n  (kasa2mqtt health) `)
	var para []string
	check := func() {
		for i, line := range para {
			if len(line) > bannerWidth {
				t.Errorf("line of %d bytes (> %d): %q", len(line), bannerWidth, line)
			}
			if i+1 < len(para) {
				next, _, _ := strings.Cut(para[i+1], " ")
				if len(line)+1+len(next) <= bannerWidth {
					t.Errorf("ragged: %q could have taken %q", line, next)
				}
			}
		}
		para = nil
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if line == "" || strings.HasPrefix(line, " ") {
			check()
			continue
		}
		para = append(para, line)
	}
	check()
	if !strings.Contains(out.String(), "\nkasa2mqtt demo: a simulated Kasa cloud") {
		t.Errorf("the opening paragraph is not there:\n%s", out.String())
	}
}

// The demo's accounts are built in code: bridge/info shows them with their
// providers' defaults filled in (the V1 account's api was ""), and the 2FA
// account waiting for its login is one error line in the log.
func TestDemoBridgeInfoAndLog(t *testing.T) {
	addr, _, errb := startDemo(t)
	infos := make(chan []byte, 16)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("demo-info-test").
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	c.Subscribe("kasa2mqtt/bridge/info", 1, func(_ paho.Client, m paho.Message) {
		select {
		case infos <- m.Payload():
		default:
		}
	}).Wait()
	var info struct {
		Config struct {
			Accounts []map[string]any `json:"accounts"`
		} `json:"config"`
	}
	select {
	case p := <-infos:
		if err := json.Unmarshal(p, &info); err != nil {
			t.Fatalf("bridge/info %s: %v", p, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no bridge/info")
	}
	want := map[string]map[string]string{
		"demo":      {"provider": "kasa", "api": "v1"},
		"demo-2fa":  {"provider": "kasa", "api": "v2"},
		"demo-tuya": {"provider": "tuya", "auth": "simple", "push": "on"},
	}
	for _, a := range info.Config.Accounts {
		name, _ := a["name"].(string)
		for k, v := range want[name] {
			if a[k] != v {
				t.Errorf("bridge/info: account %s has %s %v, want %q", name, k, a[k], v)
			}
		}
		delete(want, name)
	}
	if len(want) != 0 {
		t.Errorf("bridge/info lacks the accounts %v: %+v", want, info.Config.Accounts)
	}

	waitOut(t, errb, func(s string) bool { return strings.Contains(s, "login needed") })
	n := 0
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, "login needed") && (strings.Contains(line, "\tERROR\t") || strings.Contains(line, "\tWARN\t")) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warning or error lines about the login needed, want 1:\n%s", n, errb.String())
	}
}
