package kasa_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

func TestLogin_BodyUUIDAndPersistence(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)

	login, ok := e.srv.LastLogin()
	if !ok {
		t.Fatal("no login reached the fake")
	}
	if login.Password != testPassword {
		t.Errorf("password arrived as %q, want %q", login.Password, testPassword)
	}
	if login.AppType != "Kasa_Android" || login.Username != testUser || !login.RefreshTokenNeeded {
		t.Errorf("login = %+v", login)
	}
	id, err := uuid.Parse(login.TerminalUUID)
	if err != nil || id.Version() != 4 || id.Variant() != uuid.RFC4122 {
		t.Errorf("terminalUUID %q is not a v4 UUID (err %v)", login.TerminalUUID, err)
	}
	if got := p.TerminalUUID(); got != login.TerminalUUID {
		t.Errorf("TerminalUUID() = %q, sent %q", got, login.TerminalUUID)
	}

	fi, err := os.Stat(tokenFile(e))
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("token file mode %o, want 600", mode)
	}
	data, _ := os.ReadFile(tokenFile(e))
	if strings.Contains(string(data), "ü 密") || strings.Contains(string(data), "cloudPassword") {
		t.Errorf("token file holds the password: %s", data)
	}
	var stored map[string]string
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatalf("token file: %v", err)
	}
	if stored["terminal_uuid"] != login.TerminalUUID || stored["token"] == "" || stored["refresh_token"] == "" {
		t.Errorf("token file = %v", stored)
	}

	// A restart reuses the token and the UUID: no second login.
	p2 := e.provider()
	if p2.TerminalUUID() != login.TerminalUUID {
		t.Errorf("UUID after restart %q, want %q", p2.TerminalUUID(), login.TerminalUUID)
	}
	mustList(t, e, p2)
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("login calls = %d across two providers, want 1", n)
	}
	for _, r := range e.srv.Requests() {
		if r.TokenInQuery {
			t.Errorf("%s sent the token in the URL query", r.Method)
		}
		if (r.Method == "getDeviceList" || r.Method == "passthrough") && r.Token == "" {
			t.Errorf("%s without a token", r.Method)
		}
	}
}

func TestNew_UUIDPersistedBeforeFirstSend(t *testing.T) {
	e := newEnv(t)
	p := e.provider(func(o *kasa.Options) { o.Password = "wrong-" + testPassword })
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	login, _ := e.srv.LastLogin()
	p2 := e.provider()
	if p2.TerminalUUID() != login.TerminalUUID {
		t.Errorf("after a refused login the UUID changed: %q then %q", login.TerminalUUID, p2.TerminalUUID())
	}
}

func TestNew_OtherUsernameDiscardsTokensKeepsUUID(t *testing.T) {
	e := newEnv(t)
	e.srv.AddAccount("bob@example.com", "bobpw")
	mustList(t, e, e.provider())
	first := e.provider().TerminalUUID()

	p := e.provider(func(o *kasa.Options) { o.Username, o.Password = "bob@example.com", "bobpw" })
	if p.TerminalUUID() != first {
		t.Errorf("UUID changed with the username: %q -> %q", first, p.TerminalUUID())
	}
	mustList(t, e, p)
	if n := e.srv.Calls("login"); n != 2 {
		t.Errorf("login calls = %d, want 2 (the other user's token must not be reused)", n)
	}
	if login, _ := e.srv.LastLogin(); login.Username != "bob@example.com" || login.TerminalUUID != first {
		t.Errorf("last login = %+v", login)
	}
}

func TestNew_NoStateDirLogsInEachStart(t *testing.T) {
	e := newEnv(t)
	noDir := func(o *kasa.Options) { o.StateDir = "" }
	mustList(t, e, e.provider(noDir))
	mustList(t, e, e.provider(noDir))
	if n := e.srv.Calls("login"); n != 2 {
		t.Errorf("login calls = %d, want 2", n)
	}
	if p := e.provider(noDir); p.TokenPath() != "" {
		t.Errorf("TokenPath = %q without a state dir", p.TokenPath())
	}
}

func TestLogin_Explicit(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	noPassword := func(o *kasa.Options) { o.Password = "" }

	cli := e.provider(noPassword)
	err := cli.Login(ctxT(t), "wrong-"+testPassword)
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	if !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("error %q does not say wrong password", err)
	}
	if err := cli.Login(ctxT(t), testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}

	// The daemon has no password and runs on the stored tokens.
	daemon := e.provider(noPassword)
	devs := mustList(t, e, daemon)
	if len(devs) != 1 {
		t.Errorf("listed %d devices, want 1", len(devs))
	}
	if n := e.srv.Calls("login"); n != 2 {
		t.Errorf("login calls = %d, want 2 (both explicit)", n)
	}
}

func TestTokenExpiry_ConcurrentCallsRenewOnce(t *testing.T) {
	e := newEnv(t)
	var plugs []string
	for _, name := range []string{"Desk", "Fan", "Heater", "Kettle"} {
		plugs = append(plugs, e.srv.AddPlug(testUser, name, "HS103(US)"))
	}
	p := e.provider()
	mustList(t, e, p)
	e.srv.ExpireTokens()
	e.srv.ResetCalls()

	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				states, err := p.ReadStates(ctxT(t), plugs)
				if err != nil {
					t.Errorf("ReadStates: %v", err)
					failures.Add(1)
					return
				}
				for _, st := range states {
					if st.Err != nil || !st.Online {
						t.Errorf("state %s: online %v err %v", st.DeviceID, st.Online, st.Err)
					}
				}
				return
			}
			cmd := cloud.Command{DeviceID: plugs[i/2], Action: cloud.ActionSetRelay, On: true}
			if err := p.Apply(ctxT(t), cmd); err != nil {
				t.Errorf("Apply: %v", err)
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	if n := e.srv.Calls("refreshToken"); n != 1 {
		t.Errorf("refreshToken calls = %d, want exactly 1", n)
	}
	if n := e.srv.Calls("login"); n != 0 {
		t.Errorf("login calls = %d, want 0 (refresh worked)", n)
	}
	for _, id := range plugs {
		if !e.srv.Relay(id) {
			t.Errorf("plug %s not switched on", id)
		}
	}
	// Every failed request was replayed once: at most 2 per logical call.
	if n := e.srv.Calls("passthrough"); n > 2*(4*4+4) {
		t.Errorf("passthrough calls = %d, more than one replay per call", n)
	}
}

func TestTokenExpiry_RefreshFailsFallsBackToPassword(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)
	e.srv.ExpireTokens()
	e.srv.ExpireRefreshTokens()
	e.srv.ResetCalls()

	mustList(t, e, p)
	if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 1 {
		t.Errorf("refreshToken %d, login %d; want 1 and 1", r, l)
	}
	// The new refresh token from the login is used next time.
	e.srv.ExpireTokens()
	mustList(t, e, p)
	if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 2 || l != 1 {
		t.Errorf("refreshToken %d, login %d; want 2 and 1", r, l)
	}
}

// expiredPasswordless is the recommended setup after `kasa2mqtt login`: a
// provider without a password on the stored tokens, with a plug listed;
// then the token expires.
func expiredPasswordless(t *testing.T) (*env, *kasa.Provider, string) {
	t.Helper()
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	if err := e.provider().Login(ctxT(t), testPassword); err != nil {
		t.Fatal(err)
	}
	daemon := e.provider(func(o *kasa.Options) { o.Password = "" })
	mustList(t, e, daemon)
	e.srv.ExpireTokens()
	return e, daemon, plug
}

// V1 too: a refresh the cloud could not serve this time leaves a
// passwordless account (the recommended setup) running on its refresh
// token, with no "login needed" and no password login.
func TestTokenExpiry_TransientRefreshFailure(t *testing.T) {
	e, daemon, plug := expiredPasswordless(t)
	e.srv.ResetCalls()
	e.srv.FailNext("refreshToken", 1, -20003)
	_, err := daemon.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrUnavailable)
	if errors.Is(err, cloud.ErrLoginNeeded) {
		t.Fatalf("err = %v: a busy cloud is no reason for a person to log in", err)
	}
	if st := mustRead(t, e, daemon, plug)[plug]; st.Err != nil || !st.Online {
		t.Errorf("after the cloud recovered: %+v", st)
	}
	if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 2 || l != 0 {
		t.Errorf("refreshToken %d, login %d; want 2 and 0", r, l)
	}
}

func TestTokenExpiry_NoPassword(t *testing.T) {
	e, daemon, plug := expiredPasswordless(t)
	e.srv.ExpireRefreshTokens()

	_, err := daemon.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	// A person must log in: the error says so (the CLI and the bridge word
	// the advice, see internal/providers.Advice) and why.
	wantErrIs(t, err, cloud.ErrLoginNeeded)
	if !strings.Contains(err.Error(), "no password configured and the stored token is no longer valid") ||
		!strings.Contains(err.Error(), "login needed") {
		t.Errorf("error %q does not say that a login is needed and why", err)
	}
	// Sticky: nothing more is sent to the cloud.
	before := len(e.srv.Requests())
	for range 3 {
		_, err := daemon.ReadStates(ctxT(t), []string{plug})
		e.track(err)
		wantErrIs(t, err, cloud.ErrAuth)
	}
	if after := len(e.srv.Requests()); after != before {
		t.Errorf("%d requests sent while sticky-failed", after-before)
	}

	// `kasa2mqtt login` in another process stores a new token; the
	// daemon picks it up without a restart.
	if err := e.provider().Login(ctxT(t), testPassword); err != nil {
		t.Fatal(err)
	}
	states := mustRead(t, e, daemon, plug)
	if st := states[plug]; st.Err != nil || !st.Online {
		t.Errorf("after kasa2mqtt login: %+v", st)
	}
}

func TestLogin_WrongPasswordIsSticky(t *testing.T) {
	e := newEnv(t)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider(func(o *kasa.Options) { o.Password = "wrong-" + testPassword })

	var first string
	for i := range 5 {
		_, err1 := p.ListDevices(ctxT(t))
		_, err2 := p.ReadStates(ctxT(t), []string{plug})
		err3 := p.Apply(ctxT(t), cloud.Command{DeviceID: plug, Action: cloud.ActionSetRelay, On: true})
		e.track(err1, err2, err3)
		for _, err := range []error{err1, err2, err3} {
			wantErrIs(t, err, cloud.ErrAuth)
			if !strings.Contains(err.Error(), "wrong password") {
				t.Errorf("error %q does not say wrong password", err)
			}
		}
		if i == 0 {
			first = err1.Error()
		} else if err1.Error() != first {
			t.Errorf("error changed: %q then %q", first, err1)
		}
	}
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("login attempts = %d, want exactly 1", n)
	}
	if n := len(e.srv.Requests()); n != 1 {
		t.Errorf("requests = %d, want only the login", n)
	}
	if n := e.logs.FilterMessageSnippet("wrong password").Len(); n != 1 {
		t.Errorf("%d log lines about the wrong password, want 1", n)
	}
}

func TestLogin_2FA(t *testing.T) {
	e := newEnv(t)
	e.srv.Require2FA(testUser, true)
	p := e.provider()
	for range 3 {
		_, err := p.ListDevices(ctxT(t))
		e.track(err)
		wantErrIs(t, err, cloud.ErrAuth)
		if !strings.Contains(err.Error(), "2FA") {
			t.Errorf("error %q does not mention 2FA", err)
		}
	}
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("login attempts = %d, want 1", n)
	}
}

func TestLogin_2FAStillRefreshes(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	mustList(t, e, p)
	e.srv.Require2FA(testUser, true)
	e.srv.ExpireTokens()
	mustList(t, e, p)
	if n := e.srv.Calls("refreshToken"); n != 1 {
		t.Errorf("refreshToken calls = %d, want 1", n)
	}
}

func TestLogin_TransientFailureBacksOff(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kasa.SetClock(p, func() time.Time { return now })

	e.srv.FailNext("login", 1, -20002)
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || errorsIsAuth(err) {
		t.Fatalf("transient login failure: err = %v, want a non-auth error", err)
	}
	_, err = p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "next password login attempt in") {
		t.Errorf("during back-off: err = %v", err)
	}
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("login calls during back-off = %d, want 1", n)
	}
	now = now.Add(31 * time.Second)
	mustList(t, e, p)
	if n := e.srv.Calls("login"); n != 2 {
		t.Errorf("login calls = %d, want 2", n)
	}
}

func errorsIsAuth(err error) bool { return errors.Is(err, cloud.ErrAuth) }

func TestNew_Validation(t *testing.T) {
	for name, opts := range map[string]kasa.Options{
		"no account":     {Username: testUser},
		"account path":   {Account: "../x", Username: testUser},
		"no username":    {Account: "home"},
		"ftp URL":        {Account: "home", Username: testUser, URL: "ftp://example.com"},
		"no host":        {Account: "home", Username: testUser, URL: "https://"},
		"userinfo":       {Account: "home", Username: testUser, URL: "https://u:p@wap.tplinkcloud.com"},
		"unparseable":    {Account: "home", Username: testUser, URL: "http://[::1"},
		"corrupt tokens": {Account: "bad", Username: testUser, StateDir: "testdata"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kasa.New(opts); err == nil {
				t.Errorf("New(%v) succeeded", opts)
			}
		})
	}
	p, err := kasa.New(kasa.Options{Account: "home", Username: testUser})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind() != "kasa" || p.Account() != "home" {
		t.Errorf("Kind %q Account %q", p.Kind(), p.Account())
	}
	if s := (kasa.Options{Password: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("Options.String leaks the password: %s", s)
	}
}

func TestLogin_ConcurrentFirstCallsLogInOnce(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	p := e.provider()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rows, err := p.DeviceList(ctxT(t))
			if err != nil || len(rows) != 1 {
				t.Errorf("DeviceList: %v, %d rows", err, len(rows))
			}
		})
	}
	wg.Wait()
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("login calls = %d, want 1", n)
	}
}
