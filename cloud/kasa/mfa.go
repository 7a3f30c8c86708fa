package kasa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// MFAMethod is a way the cloud sends a two-step verification code.
type MFAMethod string

// The ways to receive a code, and the cloud's numbers for them (MFAType).
const (
	// MFAPush is a notification to the Kasa app on a phone already logged
	// in to the account.
	MFAPush MFAMethod = "push"
	// MFAEmail is an e-mail to the account's address.
	MFAEmail MFAMethod = "email"
)

// ParseMFAMethod accepts "push" or "email" (any case).
func ParseMFAMethod(s string) (MFAMethod, error) {
	switch m := MFAMethod(strings.ToLower(strings.TrimSpace(s))); m {
	case MFAPush, MFAEmail:
		return m, nil
	}
	return "", fmt.Errorf("unknown verification method %q: want %s or %s", s, MFAPush, MFAEmail)
}

// mfaType is the cloud's MFAType of m: 1 push, 2 e-mail.
func (m MFAMethod) mfaType() int {
	if m == MFAPush {
		return 1
	}
	return 2
}

func (m MFAMethod) path() string {
	if m == MFAPush {
		return v2PathPushCode
	}
	return v2PathEmailCode
}

// MFARequiredError is Login's answer for an account with two-step
// verification on (V2 error -20677): the login goes on with
// RequestMFACode and CompleteMFA. It unwraps to the cloud's *APIError
// (and so to cloud.ErrAuth).
type MFARequiredError struct {
	// Methods are the ways the cloud offers to send the code, in its order;
	// both when it named none.
	Methods []MFAMethod

	processID string // never shown
	server    string
	err       error
}

func (e *MFARequiredError) Error() string {
	names := make([]string, len(e.Methods))
	for i, m := range e.Methods {
		names[i] = string(m)
	}
	return fmt.Sprintf("two-step verification: the cloud asks for a verification code (offered: %s)", strings.Join(names, ", "))
}

func (e *MFARequiredError) Unwrap() error { return e.err }

// newMFARequired reads the -20677 answer of a V2 login: the MFA process
// id (spelled MFAProcessId or mfaProcessId, a string or a number) and the
// offered methods (supportedMFATypes: numbers 1/2 or names).
func newMFARequired(res json.RawMessage, server string, err error) *MFARequiredError {
	id, methods := parseMFAChallenge(res)
	return &MFARequiredError{Methods: methods, processID: id, server: server, err: err}
}

func parseMFAChallenge(res json.RawMessage) (processID string, methods []MFAMethod) {
	obj, _ := jsonv.Object(res)
	for _, key := range []string{"MFAProcessId", "mfaProcessId"} {
		if s, ok := jsonv.String(obj[key]); ok && s != "" {
			processID = s
			break
		}
		if n, ok := jsonv.Int64(obj[key]); ok {
			processID = strconv.FormatInt(n, 10)
			break
		}
	}
	list, _ := jsonv.Array(obj["supportedMFATypes"])
	for _, raw := range list {
		var m MFAMethod
		if n, ok := jsonv.Int(raw); ok {
			switch n {
			case 1:
				m = MFAPush
			case 2:
				m = MFAEmail
			}
		} else if s, ok := jsonv.String(raw); ok {
			switch strings.ToLower(s) {
			case "push", "app", "1":
				m = MFAPush
			case "email", "mail", "2":
				m = MFAEmail
			}
		}
		if m != "" && !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		methods = []MFAMethod{MFAPush, MFAEmail}
	}
	return processID, methods
}

// IsWrongCode reports whether err is the cloud refusing a verification
// code as wrong (-20607) or no longer valid (-20676): asking the person
// again may help.
func IsWrongCode(err error) bool {
	code, ok := apiCode(err)
	return ok && (code == codeWrongCode || code == codeCodeExpired)
}

// IsExpiredCode reports whether err is the cloud refusing a verification
// code as no longer valid (-20676): typing it again cannot help, a new
// code may.
func IsExpiredCode(err error) bool {
	code, ok := apiCode(err)
	return ok && code == codeCodeExpired
}

type v2CodeRequest struct {
	AppType       string `json:"appType"`
	CloudPassword string `json:"cloudPassword"`
	CloudUserName string `json:"cloudUserName"`
	TerminalUUID  string `json:"terminalUUID"`
}

type v2CheckCode struct {
	AppType             string `json:"appType"`
	CloudUserName       string `json:"cloudUserName"`
	Code                string `json:"code"`
	MFAProcessID        string `json:"MFAProcessId"`
	MFAType             int    `json:"MFAType"`
	TerminalBindEnabled bool   `json:"terminalBindEnabled"`
	TerminalUUID        string `json:"terminalUUID"`
	RefreshTokenNeeded  bool   `json:"refreshTokenNeeded"`
}

// requestCode asks the cloud to send a code by m: one call.
func (a *v2API) requestCode(ctx context.Context, server, terminal, password string, m MFAMethod) error {
	op := "getEmailVC4TerminalMFA"
	if m == MFAPush {
		op = "getPushVC4TerminalMFA"
	}
	_, err := a.c.post(ctx, server, m.path(), op, v2CodeRequest{
		AppType: v2AppType, CloudPassword: password, CloudUserName: a.username, TerminalUUID: terminal,
	}, "")
	return err
}

// checkCode completes the login with code (checkMFACodeAndLogin), binding
// the terminal: one call.
func (a *v2API) checkCode(ctx context.Context, server, terminal string, p pendingMFA, m MFAMethod, code string) (grant, error) {
	res, err := a.c.post(ctx, server, v2PathCheckCode, "checkMFACodeAndLogin", v2CheckCode{
		AppType: v2AppType, CloudUserName: a.username, Code: code, MFAProcessID: p.ProcessID,
		MFAType: m.mfaType(), TerminalBindEnabled: true, TerminalUUID: terminal, RefreshTokenNeeded: true,
	}, "")
	if err != nil {
		return grant{}, err
	}
	return v2Grant("checkMFACodeAndLogin", res, server)
}

// errNoMFA is CompleteMFA's error when no verification is under way.
var errNoMFA = errors.New("no two-step verification under way: log in with the password first")

// RequestMFACode asks the cloud to send a two-step verification code by m
// for the verification a Login (in this process or an earlier one, see
// the token file) started: one call. The password is the one of that
// login; it is sent, never stored. It returns where the code goes, for a
// person: "the Kasa app (a notification)" or "the e-mail address of
// <username>".
func (p *Provider) RequestMFACode(ctx context.Context, password string, m MFAMethod) (string, error) {
	if err := p.sess.requestMFACode(ctx, password, m); err != nil {
		return "", fmt.Errorf("kasa: %w", err)
	}
	if m == MFAPush {
		return "the Kasa app (a notification on a phone logged in to the account)", nil
	}
	return "the e-mail address of " + p.sess.username, nil
}

// CompleteMFA finishes the verification under way with code, received by
// m ("" means the way RequestMFACode used), and stores the token and
// refresh token (mode 0600): one call. A wrong or expired code is an error
// for which IsWrongCode holds; the verification stays under way, so the
// person may try another code. A daemon running on the same token file
// picks the tokens up without a restart.
func (p *Provider) CompleteMFA(ctx context.Context, m MFAMethod, code string) error {
	if err := p.sess.completeMFA(ctx, m, strings.TrimSpace(code)); err != nil {
		return fmt.Errorf("kasa: %w", err)
	}
	return nil
}

// MFAPending reports whether a verification started by Login waits for
// its code (in this process or in the token file).
func (p *Provider) MFAPending() bool { return p.sess.hasPending() }
