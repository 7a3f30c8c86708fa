package kasa_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// errorStyles runs fn once per way the V2 cloud reports errors.
func errorStyles(t *testing.T, fn func(t *testing.T, style kasatest.ErrorStyle)) {
	for name, style := range map[string]kasatest.ErrorStyle{
		"nested number": kasatest.ErrorsNestedNumber,
		"nested string": kasatest.ErrorsNestedString,
		"outer":         kasatest.ErrorsOuter,
	} {
		t.Run(name, func(t *testing.T) { fn(t, style) })
	}
}

// A V2 account lists, reads and switches through the regional server:
// discovery at the entry, every other call below the regional path, the
// token in the query only, every request signed; a restart reuses the
// token (no login), and the V2 tokens live next to the V1 ones.
func TestV2_RegionalFlowAndTokens(t *testing.T) {
	e := newV2Env(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider(v2Options(e))
	devs := mustList(t, e, p)
	if len(devs) != 1 || devs[0].ID != plug {
		t.Fatalf("devices = %+v", devs)
	}
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	if !e.srv.Relay(plug) {
		t.Error("plug not switched on")
	}
	if st := mustRead(t, e, p, plug); st[plug].Relay == nil || !*st[plug].Relay {
		t.Errorf("state = %+v", st[plug])
	}

	var paths []string
	for _, r := range e.srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
		account := r.Method == "getDeviceList" || r.Method == "passthrough"
		if account && (!r.TokenInQuery || !strings.HasPrefix(r.Path, kasatest.RegionPath+"/")) {
			t.Errorf("%s on %s, token in query %v", r.Method, r.Path, r.TokenInQuery)
		}
	}
	want := []string{"getAccountStatusAndUrl /api/v2/account/getAccountStatusAndUrl", "login /use1/api/v2/account/login", "getDeviceList /use1/"}
	if len(paths) < 3 || strings.Join(paths[:3], ",") != strings.Join(want, ",") {
		t.Errorf("first calls = %v, want %v", paths, want)
	}
	if n := e.srv.BadSignatures(); n != 0 {
		t.Errorf("%d requests with a bad signature", n)
	}
	login, _ := e.srv.LastLogin()
	if login.AppType != "Kasa_Android_Mix" || login.Password != testPassword || !login.RefreshTokenNeeded || login.TerminalUUID != p.TerminalUUID() {
		t.Errorf("login = %+v", login)
	}

	// V1 tokens of the same account stay untouched next to the V2 ones.
	v1 := newEnvOn(t, kasatest.NewServer())
	v1.srv.AddAccount(testUser, testPassword)
	t.Cleanup(v1.srv.Close)
	v1.dir = e.dir
	mustList(t, v1, v1.provider())
	var stored struct {
		TerminalUUID string `json:"terminal_uuid"`
		Token        string `json:"token"`
		V2           struct {
			Token, URL string
		} `json:"v2"`
	}
	data, _ := os.ReadFile(tokenFile(e))
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.TerminalUUID != p.TerminalUUID() || stored.Token == "" || stored.V2.Token == "" ||
		stored.V2.URL != e.srv.RegionURL() {
		t.Errorf("token file = %s", data)
	}

	e.srv.ResetCalls()
	p2 := e.provider(v2Options(e))
	mustList(t, e, p2)
	if n := e.srv.Calls("login") + e.srv.Calls("getAccountStatusAndUrl"); n != 0 {
		t.Errorf("a restart logged in again (%d calls)", n)
	}
}

// An expired token costs exactly one refresh for concurrent callers; the
// refresh token rotates and the new one is stored. A refused refresh token
// costs one full login; errors nested either way are understood.
func TestV2_TokenExpiryAndRefresh(t *testing.T) {
	errorStyles(t, func(t *testing.T, style kasatest.ErrorStyle) {
		e := newV2Env(t)
		e.srv.SetErrorStyle(style)
		plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
		p := e.provider(v2Options(e))
		mustList(t, e, p)

		e.srv.ExpireTokens()
		e.srv.ResetCalls()
		mustRead(t, e, p, plug, plug, plug)
		if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 0 {
			t.Errorf("after expiry: %d refreshes, %d logins; want 1, 0", r, l)
		}

		// The rotated refresh token was stored: a restarted provider
		// refreshes with it.
		e.srv.ExpireTokens()
		e.srv.ResetCalls()
		mustRead(t, e, p, plug)
		mustRead(t, e, e.provider(v2Options(e)), plug)
		if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 0 {
			t.Errorf("second expiry: %d refreshes, %d logins; want 1, 0", r, l)
		}

		e.srv.ExpireTokens()
		e.srv.ExpireRefreshTokens()
		e.srv.ResetCalls()
		mustRead(t, e, p, plug)
		if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 1 {
			t.Errorf("refresh refused: %d refreshes, %d logins; want 1, 1", r, l)
		}
	})
}

// A wrong password is tried once, whichever way the error is nested, and
// never again until restart.
func TestV2_WrongPasswordOnce(t *testing.T) {
	errorStyles(t, func(t *testing.T, style kasatest.ErrorStyle) {
		e := newV2Env(t)
		e.srv.SetErrorStyle(style)
		e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
		p := e.provider(v2Options(e), func(o *kasa.Options) { o.Password = "wrong-" + testPassword })
		for range 3 {
			_, err := p.ListDevices(ctxT(t))
			e.track(err)
			if !errors.Is(err, cloud.ErrAuth) || errors.Is(err, cloud.ErrLoginNeeded) || !strings.Contains(err.Error(), "-20601") {
				t.Fatalf("err = %v, want the refused password (-20601)", err)
			}
		}
		if n := e.srv.Calls("login"); n != 1 {
			t.Errorf("%d login attempts, want 1", n)
		}
	})
}

// The V2 hosts are trusted through the account's own pool only: with the
// shipped TP-Link roots the fake's test certificate is refused before any
// request is handled, and the refusal says so.
func TestV2_TLSUsesTheAccountsPoolOnly(t *testing.T) {
	e := newV2Env(t)
	p := e.provider(func(o *kasa.Options) {
		o.API = kasa.APIV2
		o.V2 = kasa.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey}
	})
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the fake through an untrusted connection", n)
	}
}

// Keys the cloud does not know make every request fail with a message
// that names the V2 key settings; the password is not resent in a loop.
func TestV2_WrongKeys(t *testing.T) {
	e := newV2Env(t)
	p := e.provider(v2Options(e), func(o *kasa.Options) { o.V2.SecretKey = "not-" + kasatest.TestSecretKey })
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "v2.secret_key") || !strings.Contains(err.Error(), "-20001") {
		t.Fatalf("err = %v", err)
	}
	if _, err := p.ListDevices(ctxT(t)); err == nil {
		t.Fatal("second attempt succeeded")
	}
	if n := e.srv.Calls("getAccountStatusAndUrl"); n != 1 {
		t.Errorf("%d discovery attempts within the back-off, want 1", n)
	}
	if e.srv.BadSignatures() == 0 {
		t.Error("the fake saw no bad signature")
	}
}

// A regional server outside tplinkcloud.com and the configured URL's
// origin is refused before anything is sent to it.
func TestV2_ForeignRegionalServerRefused(t *testing.T) {
	e := newV2Env(t)
	e.srv.RewriteNext("getAccountStatusAndUrl", 1, kasatest.Replace(e.srv.RegionURL(), "https://n-use1-wap.evil.example"))
	p := e.provider(v2Options(e))
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if !errors.Is(err, cloud.ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	if n := e.srv.Calls("login"); n != 0 || len(e.srv.ForeignHosts()) != 0 {
		t.Errorf("%d logins, foreign hosts %v", n, e.srv.ForeignHosts())
	}
}

// A device listed without an appServerUrl is reached on the account's
// regional server (where V2 sends every call but discovery), not on the
// entry host.
func TestV2_DeviceWithoutAppServerURLUsesTheRegionalServer(t *testing.T) {
	e := newV2Env(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	e.srv.RewriteNext("getDeviceList", 1, kasatest.Replace(`"appServerUrl":"`+e.srv.RegionURL()+`"`, `"appServerUrl":""`))
	p := e.provider(v2Options(e))
	mustList(t, e, p)
	mustApply(t, e, p, cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
	if !e.srv.Relay(plug) {
		t.Error("plug not switched on")
	}
	for _, r := range e.srv.Requests() {
		if r.Method == "passthrough" && !strings.HasPrefix(r.Path, kasatest.RegionPath+"/") {
			t.Errorf("passthrough sent to %s, want the regional server", r.Path)
		}
	}
}

// V1 with 2FA on says which change to make.
func TestV1_2FASaysSetAPIV2(t *testing.T) {
	e := newEnv(t)
	e.srv.Require2FA(testUser, true)
	_, err := e.provider().ListDevices(ctxT(t))
	e.track(err)
	if !errors.Is(err, cloud.ErrAuth) || !strings.Contains(err.Error(), "set api: v2") {
		t.Fatalf("err = %v", err)
	}
}

func ExampleParseMFAMethod() {
	for _, s := range []string{"email", "PUSH", "sms"} {
		m, err := kasa.ParseMFAMethod(s)
		fmt.Println(m, err)
	}
	// Output:
	// email <nil>
	// push <nil>
	//  unknown verification method "sms": want push or email
}
