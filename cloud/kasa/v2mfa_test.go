package kasa_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// loginWithCode runs the explicit login of a 2FA account up to the code:
// Login, then RequestMFACode by m. It returns the code the fake sent.
func loginWithCode(t *testing.T, e *env, p *kasa.Provider, m kasa.MFAMethod) string {
	t.Helper()
	err := p.Login(ctxT(t), testPassword)
	e.track(err)
	mfa, ok := errors.AsType[*kasa.MFARequiredError](err)
	if !ok || !slices.Equal(mfa.Methods, []kasa.MFAMethod{kasa.MFAPush, kasa.MFAEmail}) || !errors.Is(err, cloud.ErrAuth) {
		t.Fatalf("Login = %v, want *MFARequiredError offering push and email", err)
	}
	where, err := p.RequestMFACode(ctxT(t), testPassword, m)
	e.track(err)
	if err != nil || where == "" {
		t.Fatalf("RequestMFACode = %q, %v", where, err)
	}
	code, typ, ok := e.srv.MFACode(testUser)
	if !ok || (m == kasa.MFAEmail) != (typ == 2) {
		t.Fatalf("fake sent code %q by %d", code, typ)
	}
	e.extraS = append(e.extraS, code)
	return code
}

// A 2FA account logs in with a code: both spellings of the process id,
// errors nested either way; a wrong code may be retried; the check binds
// the terminal, and the tokens are stored.
func TestV2MFA_LoginWithCode(t *testing.T) {
	for spelling, lower := range map[string]bool{"MFAProcessId": false, "mfaProcessId": true} {
		t.Run(spelling, func(t *testing.T) {
			errorStyles(t, func(t *testing.T, style kasatest.ErrorStyle) {
				e := newV2Env(t)
				e.srv.SetErrorStyle(style)
				e.srv.SpellProcessIDLower(lower)
				e.srv.Require2FA(testUser, true)
				plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
				p := e.provider(v2Options(e), func(o *kasa.Options) { o.Password = "" })

				code := loginWithCode(t, e, p, kasa.MFAEmail)
				err := p.CompleteMFA(ctxT(t), kasa.MFAEmail, "000000"+code)
				e.track(err)
				if !kasa.IsWrongCode(err) {
					t.Fatalf("wrong code: %v", err)
				}
				if err := p.CompleteMFA(ctxT(t), kasa.MFAEmail, " "+code+"\n"); err != nil {
					t.Fatalf("CompleteMFA: %v", err)
				}
				check, _ := e.srv.LastMFACheck()
				if !check.TerminalBindEnabled || check.MFAType != 2 || check.ProcessID == "" || check.TerminalUUID != p.TerminalUUID() {
					t.Errorf("check = %+v", check)
				}
				fi, err := os.Stat(tokenFile(e))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("token file: %v %v", fi, err)
				}
				data, _ := os.ReadFile(tokenFile(e))
				if !strings.Contains(string(data), `"refresh_token"`) || strings.Contains(string(data), "mfa_pending") {
					t.Errorf("token file = %s", data)
				}
				e.srv.ResetCalls()
				if devs := mustList(t, e, p); len(devs) != 1 || devs[0].ID != plug {
					t.Errorf("devices = %+v", devs)
				}
				if n := e.srv.Calls("login"); n != 0 {
					t.Errorf("%d logins after the verification", n)
				}
			})
		})
	}
}

// The daemon never asks for a code: a 2FA account whose password it has
// stops on "login needed" after one login, stays quiet, and resumes with
// the tokens a `login` stores, without a restart. Later, an expired token
// is refreshed without a code, and when the refresh token is refused too
// the one login that follows ends in "login needed" again.
func TestV2MFA_DaemonNeedsAPerson(t *testing.T) {
	e := newV2Env(t)
	e.srv.Require2FA(testUser, true)
	plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
	daemon := e.provider(v2Options(e))
	for range 3 {
		_, err := daemon.ListDevices(ctxT(t))
		e.track(err)
		if !errors.Is(err, cloud.ErrLoginNeeded) || !strings.Contains(err.Error(), "two-step verification") {
			t.Fatalf("err = %v, want login needed", err)
		}
	}
	if n := e.srv.Calls("login"); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
	if _, _, sent := e.srv.MFACode(testUser); sent {
		t.Error("the daemon asked for a code")
	}

	cli := e.provider(v2Options(e))
	code := loginWithCode(t, e, cli, kasa.MFAPush)
	if err := cli.CompleteMFA(ctxT(t), kasa.MFAPush, code); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()
	mustRead(t, e, daemon, plug)
	if n := e.srv.Calls("login"); n != 0 {
		t.Errorf("%d logins when resuming", n)
	}

	e.srv.ExpireTokens()
	e.srv.ResetCalls()
	mustRead(t, e, daemon, plug)
	if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 0 {
		t.Errorf("expiry under 2FA: %d refreshes, %d logins", r, l)
	}

	e.srv.ExpireTokens()
	e.srv.ExpireRefreshTokens()
	e.srv.ResetCalls()
	_, err := daemon.ReadStates(ctxT(t), []string{plug})
	e.track(err)
	if !errors.Is(err, cloud.ErrLoginNeeded) {
		t.Fatalf("err = %v", err)
	}
	if r, l := e.srv.Calls("refreshToken"), e.srv.Calls("login"); r != 1 || l != 1 {
		t.Errorf("refresh refused under 2FA: %d refreshes, %d logins; want 1, 1", r, l)
	}
}

// A script runs `login` twice: the first run asks for the code, the
// second (a new process) completes the verification with it; an expired
// code is refused as wrong.
func TestV2MFA_SplitAcrossRuns(t *testing.T) {
	e := newV2Env(t)
	e.srv.Require2FA(testUser, true)
	first := e.provider(v2Options(e))
	code := loginWithCode(t, e, first, kasa.MFAPush)

	second := e.provider(v2Options(e))
	if !second.MFAPending() {
		t.Fatal("the verification under way was not stored")
	}
	e.srv.ExpireMFACodes()
	err := second.CompleteMFA(ctxT(t), "", code)
	e.track(err)
	if !kasa.IsWrongCode(err) {
		t.Fatalf("expired code: %v", err)
	}
	if _, err := second.RequestMFACode(ctxT(t), testPassword, kasa.MFAPush); err != nil {
		t.Fatal(err)
	}
	code, _, _ = e.srv.MFACode(testUser)
	e.extraS = append(e.extraS, code)
	if err := second.CompleteMFA(ctxT(t), "", code); err != nil {
		t.Fatalf("CompleteMFA in a second run: %v", err)
	}
	if check, _ := e.srv.LastMFACheck(); check.MFAType != 1 {
		t.Errorf("MFAType = %d, want 1 (push, as requested)", check.MFAType)
	}
	if second.MFAPending() {
		t.Error("still pending after the login")
	}

	third := e.provider(v2Options(e))
	if err := third.CompleteMFA(ctxT(t), kasa.MFAPush, code); err == nil || third.MFAPending() {
		t.Errorf("CompleteMFA without a verification under way: %v", err)
	}
}

// Two-step verification needs api v2.
func TestV1_MFANeedsV2(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	if _, err := p.RequestMFACode(ctxT(t), testPassword, kasa.MFAEmail); err == nil || !strings.Contains(err.Error(), "api: v2") {
		t.Errorf("RequestMFACode on V1: %v", err)
	}
}

// A refresh that fails for a reason that says nothing about the refresh
// token (the cloud failing or busy, a rate limit) is no reason for a
// password login, which a 2FA account answers with a code request and so
// a sticky "login needed" that only a person could end: the call fails as
// the outage it is, and the next one refreshes.
func TestV2MFA_TransientRefreshFailureNeedsNoPerson(t *testing.T) {
	for name, refusal := range map[string]int{"server error": -20000, "server busy": -20003, "rate limited": -20004} {
		for _, password := range []string{"", testPassword} {
			t.Run(fmt.Sprintf("%s, password %v", name, password != ""), func(t *testing.T) {
				e := newV2Env(t)
				e.srv.Require2FA(testUser, true)
				plug := e.srv.AddPlug(testUser, "Lamp", "HS103(US)")
				login := e.provider(v2Options(e))
				code := loginWithCode(t, e, login, kasa.MFAEmail)
				if err := login.CompleteMFA(ctxT(t), kasa.MFAEmail, code); err != nil {
					t.Fatal(err)
				}
				daemon := e.provider(v2Options(e), func(o *kasa.Options) { o.Password = password })
				mustRead(t, e, daemon, plug)

				e.srv.ExpireTokens()
				e.srv.ResetCalls()
				e.srv.FailNext("refreshToken", 1, refusal)
				_, err := daemon.ListDevices(ctxT(t))
				e.track(err)
				if errors.Is(err, cloud.ErrLoginNeeded) || errors.Is(err, cloud.ErrAuth) {
					t.Fatalf("a transient refresh failure ended in %v", err)
				}
				mustRead(t, e, daemon, plug)
				if l := e.srv.Calls("login"); l != 0 {
					t.Errorf("%d password logins for a transient refresh failure, want 0", l)
				}
			})
		}
	}
}
