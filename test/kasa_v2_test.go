package test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// v2Account is a Kasa V2 account on a fake V2 cloud of its own, added to
// a harness's configuration as account "v2" (a password only when asked),
// trusting the fake's test CA through v2.ca_file.
type v2Account struct {
	srv  *kasatest.Server
	plug string
	cfg  *kasa.Config
}

func (h *harness) addV2Account(twoFA, withPassword bool) v2Account {
	h.t.Helper()
	srv := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	h.t.Cleanup(srv.Close)
	addSecretSource(h, func() []string { return append(srv.Secrets(), kasatest.TestSecretKey) })
	srv.AddAccount(user, password)
	srv.Require2FA(user, twoFA)
	a := v2Account{srv: srv, plug: srv.AddPlug(user, "Garage Light", "HS103(US)")}
	ca := filepath.Join(h.t.TempDir(), "test-ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
		h.t.Fatal(err)
	}
	a.cfg = &kasa.Config{Username: user, URL: srv.URL(), API: kasa.APIV2,
		V2: kasa.V2Config{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey, CAFile: ca}}
	if withPassword {
		a.cfg.Password = password
	}
	a.cfg.SetDefaults()
	h.cfg.Accounts = append(h.cfg.Accounts, config.Account{Provider: "kasa", Name: "v2", Settings: a.cfg})
	return a
}

// loginWithCode does what `kasa2mqtt login -account v2` does while the
// daemon runs: the password login, the e-mail code the fake sent, and the
// completion that stores the tokens.
func (h *harness) loginWithCode(a v2Account) {
	h.t.Helper()
	cfg := h.cfg
	op, err := daemon.OpenAccounts(&cfg, h.fake.Client(), zap.NewNop(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	var login *providers.PasswordLogin
	for _, acct := range op.Accounts {
		if acct.Provider.Account() == "v2" {
			login = acct.Login
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err = login.Login(ctx, password)
	if methods, ok := login.Code.Needed(err); !ok || len(methods) != 2 {
		h.t.Fatalf("login: %v", err)
	}
	if _, err := login.Code.Request(ctx, password, providers.CodeByEmail); err != nil {
		h.t.Fatal(err)
	}
	code, _, _ := a.srv.MFACode(user)
	if err := login.Code.Complete(ctx, "", code); err != nil {
		h.t.Fatal(err)
	}
}

// countMsgs counts the messages on topic whose payload holds every part.
func (h *harness) countMsgs(topic string, parts ...string) int {
	n := 0
	for _, m := range h.rec.all() {
		if m.topic != topic {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(m.payload, p)
		}
		if all {
			n++
		}
	}
	return n
}

// countLogs counts log entries at level >= lvl holding every part.
func (h *harness) countLogs(lvl zapcore.Level, parts ...string) int {
	n := 0
	for _, e := range h.logs.All() {
		line := entryText(e)
		all := e.Level >= lvl
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// A 2FA account from a fresh install: the daemon starts without tokens,
// tries its password once, never asks for a code, and says what to run
// (bridge/info, one event, /readyz detail, one log line) while the V1
// account next to it works;
// after `login` with the code it bridges the plug without a restart, and a
// command over MQTT switches it.
func TestE2E_KasaV2TwoStepLoginToSwitch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	a := h.addV2Account(true, true)
	h.cfg.HTTP.Listen = "127.0.0.1:0"
	h.start()

	const advice = "run `kasa2mqtt login -account v2`"
	info := h.waitAccountStatus(0, map[string]string{"home": "ok", "v2": "auth_error"})
	if !strings.Contains(info, "login needed: the account uses two-step verification") || !strings.Contains(info, advice) {
		t.Errorf("bridge/info does not say what to run:\n%s", info)
	}
	h.rec.waitMsg(0, base+"/bridge/event", contains(advice))
	eventually(t, "/readyz naming the login", func() bool {
		code, body := h.get("/readyz")
		return code == http.StatusOK && strings.Contains(body, "account v2: ") && strings.Contains(body, advice)
	})
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	eventually(t, "the V1 lamp switched meanwhile", func() bool { return h.fake.Relay(f.lamp) })
	if n := a.srv.Calls("login"); n != 1 {
		t.Errorf("%d V2 logins before the person logged in, want 1", n)
	}
	if _, _, sent := a.srv.MFACode(user); sent {
		t.Error("the daemon asked for a code")
	}

	h.loginWithCode(a)
	topic := h.deviceTopic(0, a.plug)
	h.rec.waitMsg(0, base+"/bridge/event", contains(`"type":"account_recovered"`))
	h.rec.publish(base+"/"+topic+"/set", "ON", false)
	eventually(t, "the V2 plug switched", func() bool { return a.srv.Relay(a.plug) })
	h.rec.waitMsg(0, base+"/"+topic, contains(`"state":"ON"`))

	if n := h.countMsgs(base+"/bridge/event", `"type":"account_error"`, `"account":"v2"`); n != 1 {
		t.Errorf("%d account_error events for v2, want 1", n)
	}
	if n := h.countLogs(zapcore.ErrorLevel, "cloud account error", advice); n != 1 {
		t.Errorf("%d error log lines with the advice, want 1", n)
	}
	checkOneLoginNeededLine(t, h, "login needed", "kasa login needed: the account uses two-step verification")
	if code, body := h.get("/readyz"); code != http.StatusOK || strings.Contains(body, "account v2") {
		t.Errorf("/readyz after the login: %d %q", code, body)
	}
	if n := a.srv.Calls("login") + a.srv.Calls("checkMFACodeAndLogin"); n != 3 {
		t.Errorf("%d logins in all (daemon 1, login 1, code check 1), want 3", n)
	}
	if a.srv.BadSignatures() != 0 {
		t.Errorf("%d requests with a bad signature", a.srv.BadSignatures())
	}
}

// Token expiry costs exactly one refresh; a refused refresh token one
// full login with the password, or, under 2FA, one login that ends in
// "login needed".
func TestE2E_KasaV2TokenLifecycle(t *testing.T) {
	t.Parallel()
	for _, twoFA := range []bool{false, true} {
		name := map[bool]string{false: "password", true: "2FA"}[twoFA]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "mochi")
			h.cfg.Accounts = nil
			a := h.addV2Account(twoFA, true)
			if twoFA {
				h.loginWithCode(a)
			}
			h.start()
			topic := h.deviceTopic(0, a.plug)
			h.rec.waitMsg(0, base+"/"+topic, contains(`"state":"OFF"`))

			a.srv.ExpireTokens()
			a.srv.ResetCalls()
			a.srv.SetRelay(a.plug, true)
			h.rec.waitMsg(0, base+"/"+topic, contains(`"state":"ON"`))
			if r, l := a.srv.Calls("refreshToken"), a.srv.Calls("login"); r != 1 || l != 0 {
				t.Errorf("token expiry: %d refreshes, %d logins; want 1, 0", r, l)
			}

			a.srv.ExpireTokens()
			a.srv.ExpireRefreshTokens()
			a.srv.ResetCalls()
			mark := h.rec.mark()
			if twoFA {
				h.waitAccountStatus(mark, map[string]string{"v2": "auth_error"})
				// Two more rounds of the daemon asking the account, which
				// answers from its stored refusal without the cloud.
				seen := h.countLogs(zapcore.DebugLevel, "cloud account still failing", "v2")
				eventually(t, "two more rounds", func() bool {
					return h.countLogs(zapcore.DebugLevel, "cloud account still failing", "v2") >= seen+2
				})
				if r, l := a.srv.Calls("refreshToken"), a.srv.Calls("login"); r != 1 || l != 1 {
					t.Errorf("under 2FA: %d refreshes, %d logins; want 1, 1", r, l)
				}
			} else {
				a.srv.SetRelay(a.plug, false)
				h.rec.waitMsg(mark, base+"/"+topic, contains(`"state":"OFF"`))
				if r, l := a.srv.Calls("refreshToken"), a.srv.Calls("login"); r != 1 || l != 1 {
					t.Errorf("refresh refused: %d refreshes, %d logins; want 1, 1", r, l)
				}
			}
		})
	}
}

// A wrong password is tried once per start, and the V1 account next to it
// keeps working; the refusal says so in bridge/info.
func TestE2E_KasaV2WrongPasswordOncePerStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	a := h.addV2Account(false, true)
	a.cfg.Password = "not-" + password
	h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
	h.start()
	info := h.waitAccountStatus(0, map[string]string{"home": "ok", "v2": "auth_error"})
	if !strings.Contains(info, "wrong password") {
		t.Errorf("bridge/info:\n%s", info)
	}
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	eventually(t, "the V1 lamp switched", func() bool { return h.fake.Relay(f.lamp) })
	lists := h.fake.Calls("getDeviceList")
	eventually(t, "three more V1 list rounds", func() bool { return h.fake.Calls("getDeviceList") >= lists+3 })
	if n := a.srv.Calls("login"); n != 1 {
		t.Errorf("%d V2 logins in one start, want 1", n)
	}
	h.stop()
	h.start()
	eventually(t, "a second start's login", func() bool { return a.srv.Calls("login") == 2 })
}

// A V1 and a V2 account in one daemon: both bridged, both switched over
// MQTT, each device listed under its own account.
func TestE2E_KasaV1AndV2InOneDaemon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addFleet()
	a := h.addV2Account(false, true)
	h.start()
	v1, v2 := h.deviceTopic(0, f.lamp), h.deviceTopic(0, a.plug)
	h.rec.publish(base+"/"+v1+"/set", "ON", false)
	h.rec.publish(base+"/"+v2+"/set", "ON", false)
	eventually(t, "both plugs switched", func() bool { return h.fake.Relay(f.lamp) && a.srv.Relay(a.plug) })
	h.waitAccountStatus(0, map[string]string{"home": "ok", "v2": "ok"})
	var devices []struct{ ID, Account string }
	m := h.rec.waitMsg(0, base+"/bridge/devices", contains(a.plug))
	if err := json.Unmarshal([]byte(m.payload), &devices); err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		if (d.ID == a.plug && d.Account != "v2") || (d.ID == f.lamp && d.Account != "home") {
			t.Errorf("device %+v", d)
		}
	}
	if n := len(h.fake.Requests()); n == 0 || a.srv.BadSignatures() != 0 {
		t.Errorf("V1 requests %d, bad V2 signatures %d", n, a.srv.BadSignatures())
	}
}

// A V1 account whose user turned two-step verification on: the -23003
// refusal names the change to make (api: v2) in bridge/info, in one
// bridge/event and in the log, and the password is sent once.
func TestE2E_KasaV1With2FASaysSetAPIV2(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.addFleet()
	h.fake.Require2FA(user, true)
	h.cfg.Poll.DeviceListInterval = 500 * time.Millisecond
	h.start()

	const change = "set api: v2 on this account"
	if info := h.waitAccountStatus(0, map[string]string{"home": "auth_error"}); !strings.Contains(info, change) {
		t.Errorf("bridge/info does not name the change:\n%s", info)
	}
	h.rec.waitMsg(0, base+"/bridge/event", func(p string) bool {
		return strings.Contains(p, `"type":"account_error"`) && strings.Contains(p, change)
	})
	eventually(t, "a log line naming the change", func() bool { return h.logged(zapcore.ErrorLevel, change) })
	h.waitFailedCalls("home", h.failedCalls("home")+3)
	if n := h.countMsgs(base+"/bridge/event", `"type":"account_error"`, `"account":"home"`); n != 1 {
		t.Errorf("%d account_error events, want 1", n)
	}
	if n := h.fake.Calls("login"); n != 1 {
		t.Errorf("%d login attempts, want 1", n)
	}
}
