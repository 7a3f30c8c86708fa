package tuya_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

func TestToken_GrantPersistedAndReusedAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Lamp", false)
	mustList(t, e, e.provider())
	if n := grants(e.srv, "1"); n != 1 {
		t.Fatalf("grants = %d, want 1", n)
	}
	fi, err := os.Stat(tokenFile(e))
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("token file mode %o, want 600", mode)
	}
	data, _ := os.ReadFile(tokenFile(e))
	if strings.Contains(string(data), testSecret) {
		t.Errorf("token file holds the access secret: %s", data)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st["access_token"] == "" || st["refresh_token"] == "" || st["access_id"] != testAccessID || st["auth"] != "simple" {
		t.Errorf("token file = %v", st)
	}
	if exp, _ := st["expire_at_ms"].(float64); time.UnixMilli(int64(exp)).Sub(e.srv.Now()) < 119*time.Minute {
		t.Errorf("expire_at_ms = %v, want about 2h from now", exp)
	}

	// A restart uses the stored token: no new grant, no refresh.
	p2 := e.provider()
	mustList(t, e, p2)
	if n, r := grants(e.srv, "1"), e.srv.Calls(refreshPath); n != 1 || r != 0 {
		t.Errorf("after restart: grants %d, refreshes %d; want 1, 0", n, r)
	}
	if p2.TokenPath() != tokenFile(e) {
		t.Errorf("TokenPath = %q", p2.TokenPath())
	}
}

func TestToken_StoredTokensOfAnotherProjectIgnored(t *testing.T) {
	e := newEnv(t)
	e.srv.AddProject("0therpr0ject00000000", "other-secret-value-000000000000")
	mustList(t, e, e.provider())
	p := e.provider(func(o *tuya.Options) {
		o.AccessID, o.AccessSecret = "0therpr0ject00000000", "other-secret-value-000000000000"
	})
	mustList(t, e, p)
	if n := grants(e.srv, "1"); n != 2 {
		t.Errorf("grants = %d, want 2 (the other project's token must not be reused)", n)
	}
}

func TestToken_ExpiryFromServerTimeAndProactiveRefresh(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	e.srv.SetTokenTTL(10 * time.Minute)
	// The host clock is 50 minutes fast: were the expiry computed from it,
	// every call would see an expired token.
	e.clock.Set(50 * time.Minute)
	p := e.provider()
	mustList(t, e, p)
	for range 3 {
		mustRead(t, e, p, id)
	}
	if n := e.srv.Calls(refreshPath); n != 0 {
		t.Fatalf("refreshes = %d before the token is due, want 0", n)
	}
	// 9.5 minutes later (cloud clock) the token is within 60s of expiry.
	e.srv.SetClockOffset(9*time.Minute + 30*time.Second)
	mustRead(t, e, p, id) // still valid; teaches the provider the cloud's time
	mustRead(t, e, p, id) // refreshes first
	mustRead(t, e, p, id)
	if n := e.srv.Calls(refreshPath); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	if n := e.srv.Answers(1010); n != 0 {
		t.Errorf("1010 answers = %d, want 0 (the refresh must come before expiry)", n)
	}
	if n := grants(e.srv, "1"); n != 1 {
		t.Errorf("grants = %d, want 1", n)
	}
}

func TestToken_ConcurrentCallsShareOneRefresh(t *testing.T) {
	e := newEnv(t)
	var plugs []string
	for i := range 5 {
		plugs = append(plugs, e.srv.AddPlug(testAccessID, "Plug "+string(rune('A'+i)), true))
	}
	p := e.provider()
	mustList(t, e, p)
	e.srv.ExpireTokens()
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() {
			states, err := p.ReadStates(ctxT(t), plugs)
			if err == nil {
				for _, st := range states {
					err = errors.Join(err, st.Err)
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	e.track(errs...)
	for _, err := range errs {
		if err != nil {
			t.Fatalf("ReadStates: %v", err)
		}
	}
	if n := e.srv.Calls(refreshPath); n != 1 {
		t.Errorf("refreshes = %d, want exactly 1", n)
	}
	if n := grants(e.srv, "1"); n != 1 {
		t.Errorf("grants = %d, want 1", n)
	}
	if n := e.srv.Answers(1012); n != 0 {
		t.Errorf("%d refresh token reuses", n)
	}
}

func TestToken_ConcurrentFirstCallsShareOneGrant(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := p.ReadStates(ctxT(t), []string{id})
			e.track(err)
		})
	}
	wg.Wait()
	if n := grants(e.srv, "1"); n != 1 {
		t.Errorf("grants = %d, want 1", n)
	}
}

// Two programs on one project: the second one's refresh kills the first
// one's pair. The first then fails to refresh (single use) and falls back
// to a new grant; nothing invalid is ever stored.
func TestToken_DeadRefreshFallsBackToGrant(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p1 := e.provider()
	mustList(t, e, p1)
	p2 := e.provider() // same stored pair
	e.srv.ExpireTokens()
	mustRead(t, e, p2, id) // p2 refreshes: the stored pair dies
	mustRead(t, e, p1, id) // 1010 → refresh refused → grant
	if n := e.srv.Answers(1012); n != 1 {
		t.Errorf("reused refresh token answers = %d, want 1", n)
	}
	if n := grants(e.srv, "1"); n != 2 {
		t.Errorf("grants = %d, want 2", n)
	}
	// The file holds p1's working pair: a restart needs no grant.
	p3 := e.provider()
	mustRead(t, e, p3, id)
	if n := grants(e.srv, "1"); n != 2 {
		t.Errorf("grants after restart = %d, want 2", n)
	}
}

func TestToken_FailedRefreshFallsBackToGrant(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.ExpireTokens()
	e.srv.FailNext("/v1.0/token/", 1, 500)
	mustRead(t, e, p, id)
	if n := grants(e.srv, "1"); n != 2 {
		t.Errorf("grants = %d, want 2", n)
	}
	data, _ := os.ReadFile(tokenFile(e))
	var st map[string]any
	_ = json.Unmarshal(data, &st)
	if st["access_token"] == nil || st["access_token"] == "" {
		t.Errorf("token file after fallback = %s", data)
	}
}

func TestToken_RefusedAgainAfterRenewal(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider()
	mustList(t, e, p)
	e.srv.FailNext(statusPath, 2, 1010)
	_, err := p.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "again right after renewal") {
		t.Fatalf("err = %v", err)
	}
	if n := e.srv.Calls(refreshPath); n != 1 {
		t.Errorf("refreshes = %d, want 1 (one renewal per call)", n)
	}
	mustRead(t, e, p, id)
}

func TestClockSkew_HostClockOneHourOff(t *testing.T) {
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newEnv(t)
			id := e.srv.AddPlug(testAccessID, "Lamp", true)
			e.clock.Set(skew)
			p := e.provider()
			mustList(t, e, p)
			mustRead(t, e, p, id)
			mustApply(t, e, p, relayOn(id))
			mustRead(t, e, p, id)
			// The first request cannot know the cloud's time; every later
			// one is signed with it.
			if n := e.srv.Answers(1013); n > 1 {
				t.Errorf("1013 answers = %d, want at most 1", n)
			}
			before := e.srv.Answers(1013)
			p2 := e.provider()
			mustRead(t, e, p2, id)
			mustRead(t, e, p2, id)
			if n := e.srv.Answers(1013) - before; n > 1 {
				t.Errorf("1013 answers after restart = %d, want at most 1", n)
			}
			if !e.srv.Switch(id, "switch_1") {
				t.Error("command did not arrive")
			}
		})
	}
}

// A host clock that keeps jumping defeats the correction: the error says
// what to check.
func TestClockSkew_PersistentTimeErrorIsExplained(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Lamp", false)
	var mu sync.Mutex
	jump := time.Duration(0)
	p := e.provider(func(o *tuya.Options) {
		o.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			jump += 20 * time.Minute
			return time.Now().Add(jump)
		}
	})
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "1013") || !strings.Contains(err.Error(), "check the host clock") {
		t.Fatalf("err = %v", err)
	}
	var found bool
	for _, l := range e.logs.All() {
		found = found || strings.Contains(l.Message, "check the host clock")
	}
	if !found {
		t.Error("no log line explains the clock problem")
	}
}

func TestCodeMode_NoTokensNeedsAuthorize(t *testing.T) {
	e := newEnv(t)
	e.srv.AddPlug(testAccessID, "Lamp", false)
	p := e.provider(func(o *tuya.Options) { o.Auth = tuya.AuthCode })
	_, err := p.ListDevices(ctxT(t))
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	// A person must authorise: the error says so (the CLI and the bridge
	// word the advice, see internal/providers.Advice).
	wantErrIs(t, err, cloud.ErrLoginNeeded)
	if !strings.Contains(err.Error(), "authorization needed") {
		t.Errorf("error %q does not say that an authorisation is needed", err)
	}
	if n := e.srv.Calls(""); n != 0 {
		t.Errorf("%d calls reached the cloud, want 0 (code mode never grants)", n)
	}
}

func TestCodeMode_ExchangeRefreshAndReauthorize(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	codeMode := func(o *tuya.Options) { o.Auth = tuya.AuthCode }

	cli := e.provider(codeMode)
	bad := cli.ExchangeCode(ctxT(t), "not-a-valid-code")
	e.track(bad)
	wantErrIs(t, bad, cloud.ErrAuth)
	code := e.srv.AuthorizeCode(testAccessID)
	if err := cli.ExchangeCode(ctxT(t), " "+code+"\n"); err != nil {
		e.track(err)
		t.Fatalf("ExchangeCode: %v", err)
	}
	again := cli.ExchangeCode(ctxT(t), code) // single use
	e.track(again)
	wantErrIs(t, again, cloud.ErrAuth)

	daemon := e.provider(codeMode)
	devs := mustList(t, e, daemon)
	deviceByID(t, devs, id)
	if n := e.srv.Calls("/v1.0/users/" + e.srv.UserID(testAccessID) + "/devices"); n != 1 {
		t.Errorf("code mode listed via users/{uid}/devices %d times, want 1", n)
	}
	e.srv.ExpireTokens()
	mustRead(t, e, daemon, id)
	if n := e.srv.Calls(refreshPath); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}

	// A transient refresh failure is not an authorisation problem.
	e.srv.ExpireTokens()
	e.srv.FailNext("/v1.0/token/", 1, 500)
	_, err := daemon.ReadStates(ctxT(t), []string{id})
	e.track(err)
	if err == nil || errors.Is(err, cloud.ErrAuth) {
		t.Fatalf("transient refresh failure: err = %v", err)
	}
	mustRead(t, e, daemon, id)

	// A dead refresh token stops the account and asks for the user.
	e.srv.ExpireTokens()
	e.srv.FailNext("/v1.0/token/", 1, 1011)
	_, err = daemon.ReadStates(ctxT(t), []string{id})
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	wantErrIs(t, err, cloud.ErrLoginNeeded)
	if !strings.Contains(err.Error(), "authorization needed") {
		t.Errorf("error %q does not say that an authorisation is needed", err)
	}
	calls := e.srv.Calls("")
	_, err = daemon.ReadStates(ctxT(t), []string{id})
	e.track(err)
	wantErrIs(t, err, cloud.ErrAuth)
	if n := e.srv.Calls(""); n != calls {
		t.Errorf("%d calls after the refresh token died, want none", n-calls)
	}
	if n := grants(e.srv, "1"); n != 0 {
		t.Errorf("code mode fell back to %d simple-mode grants", n)
	}

	// The user authorises again with the CLI; the daemon picks it up.
	if err := cli.ExchangeCode(ctxT(t), e.srv.AuthorizeCode(testAccessID)); err != nil {
		e.track(err)
		t.Fatalf("ExchangeCode: %v", err)
	}
	mustRead(t, e, daemon, id)
}

func TestCodeMode_ExchangeRefusedInSimpleMode(t *testing.T) {
	e := newEnv(t)
	err := e.provider().ExchangeCode(ctxT(t), e.srv.AuthorizeCode(testAccessID))
	e.track(err)
	if err == nil || !strings.Contains(err.Error(), "auth: code") {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthorizationInstructions(t *testing.T) {
	e := newEnv(t)
	p := e.provider(func(o *tuya.Options) { o.Auth = tuya.AuthCode })
	text := p.AuthorizationInstructions("http://127.0.0.1:18080/callback")
	for _, want := range []string{testAccessID, "http://127.0.0.1:18080/callback", "iot.tuya.com", "grant_type=2", tokenFile(e), "eu"} {
		if !strings.Contains(text, want) {
			t.Errorf("instructions lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, testSecret) {
		t.Error("instructions contain the access secret")
	}
	if manual := p.AuthorizationInstructions(""); strings.Contains(manual, "redirect_uri") {
		t.Errorf("instructions without a redirect mention one:\n%s", manual)
	}
}

func TestToken_RefreshHangNamesNoToken(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	e.srv.SetTokenTTL(61 * time.Second) // due for refresh one second after issue
	p := e.provider()
	mustList(t, e, p)
	e.clock.Set(1100 * time.Millisecond) // 1.1 s later the token is due for refresh
	e.srv.SetClockOffset(1100 * time.Millisecond)
	e.srv.Hang(1)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := p.ReadStates(ctx, []string{id})
	e.track(err)
	wantErrIs(t, err, context.DeadlineExceeded)
	if reqs := e.srv.Requests(); reqs[len(reqs)-1].Path != refreshPath {
		t.Fatalf("the hung request was %s, want the refresh", reqs[len(reqs)-1].Path)
	}
	// The secrets check at cleanup covers the error text.
}

func TestCodeMode_ProactiveRefreshFailureKeepsValidToken(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddPlug(testAccessID, "Lamp", false)
	e.srv.SetTokenTTL(61 * time.Second)
	p := e.provider(func(o *tuya.Options) { o.Auth = tuya.AuthCode })
	if err := p.ExchangeCode(ctxT(t), e.srv.AuthorizeCode(testAccessID)); err != nil {
		t.Fatal(err)
	}
	mustList(t, e, p)
	e.clock.Set(1100 * time.Millisecond) // 1.1 s later the token is due for refresh
	e.srv.SetClockOffset(1100 * time.Millisecond)
	e.srv.FailNext("/v1.0/token/", 1, 500)
	mustRead(t, e, p, id) // refresh fails, the token is still valid for ~59s
	var warned bool
	for _, l := range e.logs.All() {
		warned = warned || strings.Contains(l.Message, "using the current token until it expires")
	}
	if !warned {
		t.Error("no warning about the failed proactive refresh")
	}
	mustRead(t, e, p, id) // the next call refreshes
	if e.srv.Calls(refreshPath) != 2 || grants(e.srv, "1") != 0 {
		t.Errorf("refresh calls = %d, want 2", e.srv.Calls(refreshPath))
	}
}
