package kasa

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// mfaRequired handles a login answered with a two-step verification. For
// an explicit login the verification is remembered (in memory and in the
// token file, so that a second `kasa2mqtt login` run can finish it) and
// returned; an automatic login cannot go on without a person, so the
// session stops on a sticky "login needed" until a login stores tokens.
func (s *session) mfaRequired(mfa *MFARequiredError, explicit bool) error {
	if explicit {
		s.mu.Lock()
		s.st.V2.URL = mfa.server
		s.st.V2.MFA = &pendingMFA{ProcessID: mfa.processID, Methods: slices.Clone(mfa.Methods)}
		snap := s.st
		s.mu.Unlock()
		if err := s.store.Save(snap); err != nil {
			s.log.Warn("kasa verification under way not stored; finish it in this run", zap.Error(err))
		}
		return fmt.Errorf("account %q: %w", s.account, mfa)
	}
	err := fmt.Errorf("account %q: login needed: the account uses two-step verification, and a verification code needs a person: %w",
		s.account, cloud.ErrLoginNeeded)
	s.mu.Lock()
	s.fatal = err
	s.mu.Unlock()
	s.log.Debug("kasa login needed: the account uses two-step verification") // the bridge logs the advice
	return err
}

// pending returns the verification under way (from memory, else from the
// token file of an earlier run) with the regional server.
func (s *session) pending() (pendingMFA, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.V2.MFA == nil {
		if st, found, err := s.store.Load(); err == nil && found && st.Username == s.username && st.V2.MFA != nil {
			s.st.V2.MFA, s.st.V2.URL = st.V2.MFA, st.V2.URL
		}
	}
	if s.st.V2.MFA == nil || s.st.V2.URL == "" {
		return pendingMFA{}, "", fmt.Errorf("account %q: %w", s.account, errNoMFA)
	}
	return *s.st.V2.MFA, s.st.V2.URL, nil
}

// hasPending reports whether a verification is under way.
func (s *session) hasPending() bool {
	_, _, err := s.pending()
	return err == nil
}

// requestMFACode asks the cloud to send a verification code by m for the
// verification under way: one call. It waits for any running renewal.
func (s *session) requestMFACode(ctx context.Context, password string, m MFAMethod) error {
	v2, ok := s.api.(*v2API)
	if !ok {
		return fmt.Errorf("account %q: two-step verification needs api: v2", s.account)
	}
	return s.flight.Exclusive(ctx, func() error {
		p, server, err := s.pending()
		if err != nil {
			return err
		}
		if !slices.Contains(p.Methods, m) {
			s.log.Info("kasa verification method not among those offered, asking anyway", zap.String("method", string(m)))
		}
		s.mu.Lock()
		terminal := s.st.TerminalUUID
		s.mu.Unlock()
		if err := v2.requestCode(ctx, server, terminal, password, m); err != nil {
			return fmt.Errorf("account %q: request a verification code: %w", s.account, err)
		}
		s.mu.Lock()
		if s.st.V2.MFA != nil {
			s.st.V2.MFA.Requested = m
		}
		snap := s.st
		s.mu.Unlock()
		if err := s.store.Save(snap); err != nil {
			s.log.Warn("kasa verification under way not stored; finish it in this run", zap.Error(err))
		}
		s.log.Info("kasa verification code requested", zap.String("method", string(m)))
		return nil
	})
}

// completeMFA finishes the verification under way with code (received by
// m; "" means the way it was requested) and adopts the tokens: one call.
// A wrong or expired code leaves the verification under way (IsWrongCode).
func (s *session) completeMFA(ctx context.Context, m MFAMethod, code string) error {
	v2, ok := s.api.(*v2API)
	if !ok {
		return fmt.Errorf("account %q: two-step verification needs api: v2", s.account)
	}
	if code == "" {
		return fmt.Errorf("account %q: the verification code is empty", s.account)
	}
	return s.flight.Exclusive(ctx, func() error {
		p, server, err := s.pending()
		if err != nil {
			return err
		}
		if m == "" {
			m = p.Requested
		}
		if m == "" {
			return fmt.Errorf("account %q: say how the code was received (push or email)", s.account)
		}
		s.mu.Lock()
		terminal := s.st.TerminalUUID
		s.mu.Unlock()
		g, err := v2.checkCode(ctx, server, terminal, p, m, code)
		if err != nil {
			if IsWrongCode(err) {
				return fmt.Errorf("account %q: verification code refused: %w", s.account, err)
			}
			if errors.Is(err, cloud.ErrAuth) {
				return fmt.Errorf("account %q: login refused: %w", s.account, err)
			}
			return fmt.Errorf("account %q: %w", s.account, err)
		}
		return s.loggedIn(g, true)
	})
}
