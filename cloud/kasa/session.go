package kasa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/renew"
)

// Password login back-off after a non-terminal failure (outage, rate limit,
// timeout): 30s, doubling, at most 30 minutes. Terminal refusals (wrong
// password, 2FA) stop logins altogether instead.
const (
	loginBackoffMin = 30 * time.Second
	loginBackoffMax = 30 * time.Minute
)

func loginBackoff(failures int) time.Duration {
	d := loginBackoffMin
	for i := 1; i < failures && d < loginBackoffMax; i++ {
		d *= 2
	}
	return min(d, loginBackoffMax)
}

// session owns one account's tokens and serialises every login and refresh.
//
// Calls read the current token together with its generation. A call whose
// token is refused asks renew for a token newer than that generation: the
// first such call runs the single refresh/login while later ones wait for
// it and share its outcome (renew.Flight), so N calls failing together
// cause one login.
type session struct {
	account  string
	username string
	password string
	api      api // V1 or V2
	store    *tokenStore
	log      *zap.Logger
	now      func() time.Time
	flight   renew.Flight      // Op set by New
	onLogin  func(kind string) // "login" or "refresh"; may be nil

	mu              sync.Mutex
	st              tokenState
	uuidStored      bool      // st.TerminalUUID is on disk
	gen             uint64    // bumped whenever st.Token changes
	fatal           error     // sticky authentication failure
	passwordRefused bool      // the configured password was refused once
	loginFailures   int       // consecutive non-terminal password login failures
	nextLogin       time.Time // no automatic password login before this
	lastLoginErr    error
}

// current returns the token to use (possibly empty: then call renew) and
// its generation, or the sticky authentication error.
func (s *session) current() (string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fatalLocked(); err != nil {
		return "", 0, err
	}
	return s.tok().Token, s.gen, nil
}

// tok returns the tokens of the session's API generation; s.mu is held.
func (s *session) tok() *tokens { return s.api.slot(&s.st) }

// server returns where the account's own requests go (see api.server).
func (s *session) server() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.api.server(s.st)
}

// fatalLocked returns the sticky error, unless the token file now holds a
// token this session has not tried (a login in another process, see
// Provider.Login), which is adopted without contacting the cloud.
func (s *session) fatalLocked() error {
	if s.fatal == nil {
		return nil
	}
	st, found, err := s.store.Load()
	if err != nil || !found || st.Username != s.username {
		return s.fatal
	}
	if stored := s.api.slot(&st).Token; stored == "" || stored == s.tok().Token || s.api.server(st) == "" {
		return s.fatal
	}
	if st.TerminalUUID == "" {
		st.TerminalUUID = s.st.TerminalUUID
	}
	s.st = st
	s.gen++
	s.fatal = nil
	s.loginFailures, s.nextLogin, s.lastLoginErr = 0, time.Time{}, nil
	s.log.Info("kasa session resumed with a token stored by a login since")
	return nil
}

// renew returns a token newer than generation stale, refreshing or logging
// in when nobody else already did. Concurrent callers share one attempt and
// its error.
func (s *session) renew(ctx context.Context, stale uint64) (string, uint64, error) {
	return s.flight.Renew(ctx, stale, s.current, func() error { return s.doRenew(ctx) })
}

// login is the explicit password login of `kasa2mqtt login`. It waits for
// any running renewal, ignores back-off and sticky state, and returns the
// error of storing the tokens.
func (s *session) login(ctx context.Context, password string) error {
	if password == "" {
		return fmt.Errorf("account %q: login: the password is empty", s.account)
	}
	return s.flight.Exclusive(ctx, func() error { return s.passwordLogin(ctx, password, true) })
}

// doRenew tries the refresh token, then the configured password. A
// refresh that failed for a reason that says nothing about the refresh
// token (the cloud unreachable, failing or busy, a rate limit) ends the
// renewal with that error: the next call refreshes again. A password login
// would send the credentials on any error (reference §6.2), and for an
// account with two-step verification, or without a password, end in a
// sticky "login needed" while the refresh token is still good.
func (s *session) doRenew(ctx context.Context) error {
	s.mu.Lock()
	st := s.st
	cur := *s.tok()
	s.mu.Unlock()
	if cur.RefreshToken != "" {
		err := s.refresh(ctx, st)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, cloud.ErrUnavailable) || errors.Is(err, cloud.ErrRateLimited) {
			if ctx.Err() == nil {
				s.log.Info("kasa token refresh failed; the next call tries again", zap.Error(err))
			}
			return fmt.Errorf("account %q: refresh the token: %w", s.account, err)
		}
		s.log.Info("kasa token refresh failed, trying a password login", zap.Error(err))
		if code, ok := apiCode(err); ok && (code == codeRefreshExpired || code == codeRefreshIncorrect) {
			s.mu.Lock()
			s.tok().RefreshToken = ""
			s.mu.Unlock()
		}
	}
	return s.autoLogin(ctx, cur.Token != "")
}

func (s *session) refresh(ctx context.Context, st tokenState) error {
	g, err := s.api.refresh(ctx, st)
	if err != nil {
		return err
	}
	if err := s.adopt(g, false); err != nil {
		s.log.Warn("kasa token refreshed but not stored; the next start logs in again", zap.Error(err))
	}
	s.log.Info("kasa token refreshed")
	if s.onLogin != nil {
		s.onLogin("refresh")
	}
	return nil
}

// autoLogin logs in with the configured password unless there is none, it
// was refused before, or a previous failure's back-off is still running.
func (s *session) autoLogin(ctx context.Context, hadToken bool) error {
	s.mu.Lock()
	if s.password == "" || s.passwordRefused {
		var reason string
		switch {
		case s.passwordRefused:
			reason = "the configured password was refused and the stored token is no longer valid"
		case hadToken:
			reason = "no password configured and the stored token is no longer valid"
		default:
			reason = "no password configured and no stored token"
		}
		err := fmt.Errorf("account %q: login needed: %s: %w", s.account, reason, cloud.ErrLoginNeeded)
		s.fatal = err
		s.mu.Unlock()
		// At debug level: the bridge logs this error once, with the
		// command that logs the account in (providers.Advise).
		s.log.Debug("kasa login needed: " + reason)
		return err
	}
	if wait := s.nextLogin.Sub(s.now()); wait > 0 {
		err := fmt.Errorf("account %q: next password login attempt in %s: last attempt: %w",
			s.account, wait.Round(time.Second), s.lastLoginErr)
		s.mu.Unlock()
		return err
	}
	password := s.password
	s.mu.Unlock()
	return s.passwordLogin(ctx, password, false)
}

// passwordLogin sends one login (for V2 with its regional discovery). A
// terminal refusal makes an automatic login sticky-failed; other failures
// start the back-off. A two-step verification is returned as
// *MFARequiredError to an explicit login (and remembered for
// completeMFA); to an automatic one it is a sticky "login needed".
func (s *session) passwordLogin(ctx context.Context, password string, explicit bool) error {
	s.ensureUUIDStored()
	s.mu.Lock()
	terminal := s.st.TerminalUUID
	s.mu.Unlock()

	g, err := s.api.login(ctx, terminal, password)
	if err != nil {
		if mfa, ok := errors.AsType[*MFARequiredError](err); ok {
			return s.mfaRequired(mfa, explicit)
		}
		if code, ok := apiCode(err); ok {
			if reason, isTerminal := loginRefusal(code); isTerminal {
				if explicit {
					return fmt.Errorf("account %q: login refused (%s): %w", s.account, reason, err)
				}
				ferr := fmt.Errorf("account %q: login refused (%s), not retrying until restart: %w", s.account, reason, err)
				s.mu.Lock()
				s.fatal = ferr
				s.passwordRefused = true
				s.mu.Unlock()
				s.log.Error("kasa login refused: "+reason+"; not retrying until restart", zap.Int(keyCode, code))
				return ferr
			}
		}
		if !explicit && ctx.Err() == nil {
			s.mu.Lock()
			s.loginFailures++
			n := s.loginFailures
			s.nextLogin = s.now().Add(loginBackoff(n))
			s.lastLoginErr = err
			s.mu.Unlock()
			s.log.Warn("kasa login failed", zap.Error(err), zap.Int("consecutive_failures", n))
		}
		return fmt.Errorf("account %q: %w", s.account, err)
	}
	return s.loggedIn(g, explicit)
}

// loggedIn adopts the tokens of a login (by password or with a code).
func (s *session) loggedIn(g grant, explicit bool) error {
	perr := s.adopt(g, true)
	s.log.Info("kasa login succeeded", zap.Bool("refresh_token", g.RefreshToken != ""))
	if s.onLogin != nil {
		s.onLogin("login")
	}
	if perr != nil {
		if explicit {
			return fmt.Errorf("account %q: logged in but could not store the tokens: %w", s.account, perr)
		}
		s.log.Warn("kasa tokens not stored; the next start logs in again", zap.Error(perr))
	}
	return nil
}

// adopt installs a new token (and refresh token: replaced after a login,
// kept after a refresh that returned none; and for V2 the regional
// server), ends any verification under way, clears failure state and
// persists the session.
func (s *session) adopt(g grant, fromLogin bool) error {
	s.mu.Lock()
	t := s.tok()
	t.Token = g.Token
	if g.RefreshToken != "" || fromLogin {
		t.RefreshToken = g.RefreshToken
	}
	if g.URL != "" {
		s.st.V2.URL = g.URL
	}
	if fromLogin {
		s.st.V2.MFA = nil
	}
	s.st.Username = s.username
	s.gen++
	s.fatal = nil
	s.loginFailures, s.nextLogin, s.lastLoginErr = 0, time.Time{}, nil
	snap := s.st
	s.mu.Unlock()
	if err := s.store.Save(snap); err != nil {
		return err
	}
	s.mu.Lock()
	s.uuidStored = true
	s.mu.Unlock()
	return nil
}

// ensureUUIDStored writes the terminal UUID before it is first sent, so the
// cloud never sees a terminal this installation could forget.
func (s *session) ensureUUIDStored() {
	s.mu.Lock()
	if s.uuidStored || s.store == nil {
		s.mu.Unlock()
		return
	}
	snap := s.st
	s.mu.Unlock()
	if err := s.store.Save(snap); err != nil {
		s.log.Warn("kasa terminal UUID not stored; the next start registers a new terminal", zap.Error(err))
		return
	}
	s.mu.Lock()
	s.uuidStored = true
	s.mu.Unlock()
}
