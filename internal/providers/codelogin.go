package providers

import "context"

// CodeLogin is the second step of a password login for an account with
// two-step verification: the cloud sends a one-time code, by a way the
// person picks among those it offers, and the login completes with it.
// The steps may run in one process (asking on the terminal) or in two
// (a script: request the code, later complete with it); the account keeps
// what is under way in its token file in between.
type CodeLogin struct {
	// Needed reports whether err, from PasswordLogin.Login, asks for a
	// code, and the ways the cloud offers to send it ("push", "email").
	Needed func(err error) (methods []string, ok bool)
	// Pending reports whether an earlier run started a verification that
	// waits for its code.
	Pending func() bool
	// Request asks the cloud to send a code by method ("push" or "email")
	// and returns where it went, for the person ("the e-mail address of
	// you@example.com").
	Request func(ctx context.Context, password, method string) (where string, err error)
	// Complete finishes the login with code, received by method ("" means
	// the way Request used), and stores the tokens.
	Complete func(ctx context.Context, method, code string) error
	// WrongCode reports whether err says the code was wrong or has
	// expired, so that asking the person again may help.
	WrongCode func(err error) bool
	// Expired reports whether err says the code is no longer valid, so
	// that only a new code (Request again) can help; nil means never.
	Expired func(err error) bool
}

// The ways a CodeLogin sends a code.
const (
	// CodeByPush is a notification in the vendor's app.
	CodeByPush = "push"
	// CodeByEmail is an e-mail to the account's address.
	CodeByEmail = "email"
)
