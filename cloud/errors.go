package cloud

import (
	"context"
	"errors"
	"fmt"
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
	// ErrDeviceOffline: the cloud reports the device unreachable.
	ErrDeviceOffline = errors.New("device offline")
	// ErrUnknownDevice: the device is not (or no longer) on the account.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrUnsupported: the device does not support the requested action.
	ErrUnsupported = errors.New("not supported by device")
	// ErrRateLimited: the cloud asked us to slow down.
	ErrRateLimited = errors.New("cloud rate limit")
	// ErrUnavailable: the cloud did not answer usefully: a network error,
	// an HTTP 5xx status, or no answer within the request timeout. It says
	// nothing about the device or the credentials; retry later.
	ErrUnavailable = errors.New("cloud unavailable")
	// ErrRefused: a request was refused for safety (e.g. an appServerUrl
	// outside the vendor's domain).
	ErrRefused = errors.New("refused")
)

// CallFailed classifies the failure err of one cloud round trip made with
// callCtx, a child of ctx bounded by timeout: the caller's own cancellation
// stays a context error (nothing to report); the call running out of time
// becomes "no answer within <timeout>"; both that and network errors wrap
// ErrUnavailable.
func CallFailed(ctx, callCtx context.Context, timeout time.Duration, err error) error {
	switch {
	case ctx.Err() != nil:
		return err
	case callCtx.Err() != nil:
		return fmt.Errorf("no answer within %s: %w", timeout, ErrUnavailable)
	}
	return fmt.Errorf("%w: %w", err, ErrUnavailable)
}
