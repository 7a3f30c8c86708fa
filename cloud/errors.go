package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Sentinel errors that drive the bridge's recovery decisions. Providers wrap
// them (fmt.Errorf("...: %w", ErrAuth)) together with a vendor-specific error
// that names the cloud's code and its meaning for the log.
var (
	// ErrAuth: the credentials were refused (wrong password, 2FA, account
	// locked). Terminal until the configuration changes: the provider does
	// not retry, and callers should not either.
	ErrAuth = errors.New("cloud authentication failed")
	// ErrLoginNeeded: the account cannot get a session by itself (no
	// password configured and no usable stored token; an authorisation that
	// only a person can renew has lapsed), so a person must log in or
	// authorise again; the provider picks up the tokens stored by that
	// without a restart. It wraps ErrAuth (errors.Is(err, ErrAuth) holds
	// for it, and its text is the same). Providers do not say how: the
	// program around them words that advice.
	ErrLoginNeeded = fmt.Errorf("%w", ErrAuth)
	// ErrDeviceOffline: the cloud reports the device unreachable.
	ErrDeviceOffline = errors.New("device offline")
	// ErrUnknownDevice: the device is not (or no longer) on the account.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrUnsupported: the device does not support the requested action.
	ErrUnsupported = errors.New("not supported by device")
	// ErrRateLimited: the cloud asked us to slow down.
	ErrRateLimited = errors.New("cloud rate limit")
	// ErrUnavailable: the cloud did not answer usefully: a network error,
	// an HTTP 5xx status, no answer within the request timeout (ErrTimeout,
	// which wraps it), or an answer that says the cloud is busy or timed
	// out on its side. It says nothing about the device or the credentials:
	// the failure may pass, so retry later.
	ErrUnavailable = errors.New("cloud unavailable")
	// ErrTimeout: no answer within the request timeout. It wraps
	// ErrUnavailable (errors.Is(err, ErrUnavailable) holds for it, and its
	// text is the same), and it is not a context error: callers tell it
	// from their own cancellation or deadline.
	ErrTimeout = fmt.Errorf("%w", ErrUnavailable)
	// ErrRefused: a request was refused for safety (e.g. an appServerUrl
	// outside the vendor's domain).
	ErrRefused = errors.New("refused")
)

// CallFailed classifies the failure err of one cloud round trip made with
// callCtx, a child of ctx bounded by timeout: the caller's own cancellation
// or deadline stays a context error (nothing to report); the call running
// out of time becomes "no answer within <timeout>", and a timeout of the
// HTTP transport itself (dial, TLS handshake, response headers) keeps its
// text: both wrap ErrTimeout and neither is a context error. Other (network)
// errors wrap ErrUnavailable.
func CallFailed(ctx, callCtx context.Context, timeout time.Duration, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return err
	case callCtx.Err() != nil:
		return fmt.Errorf("no answer within %s: %w", timeout, ErrTimeout)
	case errors.As(err, &ne) && ne.Timeout():
		// Not %w: the net package's timeout error matches
		// context.DeadlineExceeded, which would pass for the caller's own.
		return fmt.Errorf("%v: %w", err, ErrTimeout)
	}
	return fmt.Errorf("%w: %w", err, ErrUnavailable)
}
