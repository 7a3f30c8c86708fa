package tuya

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/renew"
)

// refreshMargin is how long before its expiry (cloud clock) an access token
// is refreshed proactively.
const refreshMargin = 60 * time.Second

// session owns one account's tokens and serialises every grant and
// refresh.
//
// Calls read the current token together with its generation. A call whose
// token is refused, or about to expire, asks renew for a token newer than
// that generation: the first such call runs the single refresh or grant
// while later ones wait for it and share its outcome, so N calls failing
// together cause one refresh. This matters doubly here: a refresh token
// works once, and a successful refresh kills the old pair.
type session struct {
	onToken  func(kind string) // "login" or "refresh"; may be nil
	account  string
	accessID string
	endpoint string
	mode     string
	rt       *transport
	store    *tokenStore
	log      *zap.Logger
	flight   renew.Flight // Op set by New

	mu    sync.Mutex
	st    tokenState
	gen   uint64 // bumped whenever st.AccessToken changes
	fatal error  // code mode: a user must authorise again
}

// current returns the token to use, its generation and whether it is
// fresh (set and not within refreshMargin of its expiry on the cloud's
// clock), or the sticky authorisation error.
func (s *session) current() (token string, gen uint64, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fatalLocked(); err != nil {
		return "", 0, false, err
	}
	now, _ := s.rt.serverNow()
	fresh = s.st.AccessToken != "" && now.Add(refreshMargin).UnixMilli() < s.st.ExpireAtMS
	return s.st.AccessToken, s.gen, fresh, nil
}

// expired reports whether the token of generation gen has passed its
// expiry on the cloud's clock (or was replaced).
func (s *session) expired(gen uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, _ := s.rt.serverNow()
	return gen != s.gen || s.st.AccessToken == "" || now.UnixMilli() >= s.st.ExpireAtMS
}

// uid is the user id of the current token.
func (s *session) uid() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.UID
}

// fatalLocked returns the sticky error, unless the token file now holds a
// refresh token this session has not tried (an authorisation in another
// process, see Provider.ExchangeCode), which is adopted without contacting
// the cloud.
func (s *session) fatalLocked() error {
	if s.fatal == nil {
		return nil
	}
	st, found, err := s.store.Load()
	if err != nil || !found || !s.matches(st) || st.RefreshToken == "" || st.RefreshToken == s.st.RefreshToken {
		return s.fatal
	}
	s.st = st
	s.gen++
	s.fatal = nil
	s.log.Info("tuya session resumed with tokens stored by an authorisation since")
	return nil
}

// matches reports whether stored tokens belong to this project, data
// centre and mode.
func (s *session) matches(st tokenState) bool {
	return st.AccessID == s.accessID && st.Endpoint == s.endpoint && st.Auth == s.mode
}

// renew returns a token newer than generation stale, refreshing or getting
// a new one when nobody else already did. Concurrent callers share one
// attempt and its error (renew.Flight).
func (s *session) renew(ctx context.Context, stale uint64) (string, uint64, error) {
	return s.flight.Renew(ctx, stale, s.held, func() error { return s.doRenew(ctx) })
}

// held returns the access token held now ("" when none) and its
// generation, or the sticky authorisation error.
func (s *session) held() (string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fatalLocked(); err != nil {
		return "", 0, err
	}
	return s.st.AccessToken, s.gen, nil
}

// doRenew refreshes with the refresh token; when that fails, simple mode
// gets a new grant and code mode gives up (a dead refresh token needs the
// user) or reports the transient failure.
func (s *session) doRenew(ctx context.Context) error {
	s.mu.Lock()
	refresh := s.st.RefreshToken
	s.mu.Unlock()
	if refresh != "" {
		err := s.refresh(ctx, refresh)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("account %q: %w", s.account, err)
		}
		if s.mode == AuthCode {
			if !refreshTokenDead(err) {
				return fmt.Errorf("account %q: %w", s.account, err)
			}
			return s.needAuthorize("the refresh token was refused", err)
		}
		s.log.Info("tuya token refresh failed, requesting a new token", zap.Error(err))
		s.mu.Lock()
		if s.st.RefreshToken == refresh {
			s.st.RefreshToken = ""
		}
		s.mu.Unlock()
	} else if s.mode == AuthCode {
		return s.needAuthorize("no tokens are stored", nil)
	}
	return s.grant(ctx)
}

// refreshTokenDead reports whether a refresh failure says the refresh
// token itself is no longer accepted (rather than the cloud being busy or
// the credentials being wrong).
func refreshTokenDead(err error) bool {
	code, ok := apiCode(err)
	if !ok || isTransientCode(code) || isHoldCode(code) || code == codePermissionDeny {
		return false
	}
	return true
}

// needAuthorize makes the session fail until a user authorises again.
func (s *session) needAuthorize(why string, cause error) error {
	msg := fmt.Sprintf("account %q: Tuya authorization needed (%s)", s.account, why)
	var err error
	if cause != nil {
		err = fmt.Errorf("%s: %w (last answer: %w)", msg, cloud.ErrLoginNeeded, cause)
	} else {
		err = fmt.Errorf("%s: %w", msg, cloud.ErrLoginNeeded)
	}
	s.mu.Lock()
	s.fatal = err
	// The refused refresh token stays in memory so that fatalLocked only
	// adopts a token file with a different one.
	s.st.AccessToken, s.st.ExpireAtMS = "", 0
	s.gen++
	s.mu.Unlock()
	// At debug level: the bridge logs this error once, with the command
	// that authorises the account again (providers.Advise).
	s.log.Debug("tuya authorization needed: " + why)
	return err
}

func (s *session) refresh(ctx context.Context, refresh string) error {
	if !safeSegment(refresh) {
		return &APIError{Op: "GET /v1.0/token/{refresh_token}", Code: codeTokenInvalid, Msg: "stored refresh token has unexpected characters"}
	}
	res, serverMS, err := s.rt.doT(ctx, request{
		method: "GET",
		path:   "/v1.0/token/" + refresh,
		op:     "GET /v1.0/token/{refresh_token}",
	}, "")
	if err != nil {
		return err
	}
	if err := s.adopt(res, serverMS, false); err != nil {
		return err
	}
	s.log.Info("tuya token refreshed")
	s.tokenEvent("refresh")
	return nil
}

func (s *session) grant(ctx context.Context) error {
	res, serverMS, err := s.rt.doT(ctx, request{
		method: "GET",
		path:   "/v1.0/token",
		query:  url.Values{"grant_type": {"1"}},
		op:     "GET /v1.0/token?grant_type=1",
	}, "")
	if err != nil {
		return fmt.Errorf("account %q: get token: %w", s.account, err)
	}
	if err := s.adopt(res, serverMS, false); err != nil {
		return fmt.Errorf("account %q: %w", s.account, err)
	}
	s.log.Info("tuya token obtained (simple mode)")
	s.tokenEvent("login")
	return nil
}

// exchange trades an authorisation code for tokens (code mode). It waits
// for any running renewal and clears the sticky authorisation error when
// it succeeds; failing to store the tokens is an error.
func (s *session) exchange(ctx context.Context, code string) error {
	return s.flight.Exclusive(ctx, func() error {
		res, serverMS, err := s.rt.doT(ctx, request{
			method: "GET",
			path:   "/v1.0/token",
			query:  url.Values{"grant_type": {"2"}, "code": {code}},
			op:     "GET /v1.0/token?grant_type=2",
		}, "")
		if err != nil {
			if c, ok := apiCode(err); ok && (c == codeGrantInvalid || c == codeCodeInvalid) {
				return fmt.Errorf("account %q: the authorization code was refused (expired, already used or issued for another project): %w: %w",
					s.account, err, cloud.ErrAuth)
			}
			return fmt.Errorf("account %q: exchange authorization code: %w", s.account, err)
		}
		if err := s.adopt(res, serverMS, true); err != nil {
			return fmt.Errorf("account %q: %w", s.account, err)
		}
		s.log.Info("tuya authorization code exchanged for tokens")
		s.tokenEvent("login")
		return nil
	})
}

// tokenResult is the result of the token APIs.
type tokenResult struct {
	AccessToken  string
	RefreshToken string
	ExpireSec    int64
	UID          string
}

func parseTokenResult(raw json.RawMessage) (tokenResult, error) {
	m, ok := jsonv.Object(raw)
	if !ok {
		return tokenResult{}, errors.New("token response: result is not an object")
	}
	var r tokenResult
	r.AccessToken, _ = jsonv.String(m["access_token"])
	r.RefreshToken, _ = jsonv.String(m["refresh_token"])
	r.UID, _ = jsonv.String(m["uid"])
	exp, ok := jsonv.Int64(m["expire_time"])
	if !ok {
		exp, ok = jsonv.Int64(m["expire"])
	}
	switch {
	case r.AccessToken == "" || r.RefreshToken == "":
		return tokenResult{}, errors.New("token response without access_token or refresh_token")
	case !ok || exp <= 0 || exp > 366*24*3600:
		return tokenResult{}, errors.New("token response without a valid expire_time")
	case !safeSegment(r.RefreshToken) || !safeHeader(r.AccessToken):
		return tokenResult{}, errors.New("token response with unexpected characters in a token")
	}
	r.ExpireSec = exp
	return r, nil
}

// adopt installs the tokens of a token response, persists them and only
// then lets callers use them. The expiry is the response's t (cloud clock)
// plus expire_time. An invalid response changes nothing. A failure to store
// is returned only when explicit (ExchangeCode); otherwise it is logged,
// because the old pair is dead either way.
func (s *session) adopt(res json.RawMessage, serverMS int64, explicit bool) error {
	r, err := parseTokenResult(res)
	if err != nil {
		return err
	}
	if serverMS <= 0 {
		now, _ := s.rt.serverNow()
		serverMS = now.UnixMilli()
	}
	s.mu.Lock()
	s.st = tokenState{
		AccessID:     s.accessID,
		Endpoint:     s.endpoint,
		Auth:         s.mode,
		UID:          r.UID,
		AccessToken:  r.AccessToken,
		RefreshToken: r.RefreshToken,
		ExpireAtMS:   serverMS + r.ExpireSec*1000,
	}
	snap := s.st
	s.mu.Unlock()
	perr := s.store.Save(snap)
	s.mu.Lock()
	s.gen++
	s.fatal = nil
	s.mu.Unlock()
	if perr != nil {
		if explicit {
			return fmt.Errorf("tokens obtained but not stored: %w", perr)
		}
		s.log.Warn("tuya tokens not stored; the next start needs a new token", zap.Error(perr))
	}
	return nil
}

// tokenEvent reports a grant ("login") or refresh to the observer.
func (s *session) tokenEvent(kind string) {
	if s.onToken != nil {
		s.onToken(kind)
	}
}
