package kasa

import (
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/apierr"
)

// Cloud envelope error codes the provider acts on. The full table of known
// meanings is codeMeanings.
const (
	codeJSONFormat          = -10100
	codeRateLimitIP         = -10200
	codeRateLimitUser       = -10201
	codeServerError         = -20000
	codeRequestTimeout      = -20002
	codeServerBusy          = -20003
	codeAPIRateLimit        = -20004
	codeMethodNotFound      = -20103
	codeParamMissing        = -20104
	codeDeviceNotFound      = -20501
	codeDeviceOtherAccount  = -20506
	codeDeviceUnbound       = -20507
	codeDeviceOffline       = -20571
	codeNotBound            = -20580
	codeAccountNotFound     = -20600
	codeWrongPassword       = -20601
	codeAccountInactive     = -20602
	codePermissionDenied    = -20001
	codeWrongCode           = -20607
	codeTokenExpired        = -20651
	codeTokenIncorrect      = -20652
	codeRefreshExpired      = -20655
	codeRefreshIncorrect    = -20656
	codeAccountLocked       = -20661
	codeLoggedInElsewhere   = -20675
	codeCodeExpired         = -20676
	codeVerificationNeeded  = -20677
	codeAppVersionTooOld2FA = -23003
)

// codeMeanings explains the cloud's envelope error codes (reference §4.1).
var codeMeanings = apierr.Meanings{
	-1:                      "unknown error",
	-10000:                  "generic error",
	codeJSONFormat:          "JSON format error",
	-10101:                  "JSON body is null",
	codeRateLimitIP:         "IP request rate limit exceeded",
	codeRateLimitUser:       "user request rate limit exceeded",
	codeServerError:         "server internal error",
	codePermissionDenied:    "permission denied",
	codeRequestTimeout:      "request timeout: the device did not answer in time",
	codeServerBusy:          "server busy",
	codeAPIRateLimit:        "API rate limit exceeded",
	codeMethodNotFound:      "method does not exist or is not available",
	codeParamMissing:        "parameter doesn't exist",
	-20105:                  "parameter has the wrong type",
	-20106:                  "parameter out of range",
	-20107:                  "parameter invalid",
	-20212:                  "incorrect service entry address",
	codeDeviceNotFound:      "device id not found",
	codeDeviceOtherAccount:  "device is bound to another account",
	codeDeviceUnbound:       "device is unbound",
	codeDeviceOffline:       "device is offline",
	-20572:                  "alias format error",
	-20573:                  "missing request data",
	codeNotBound:            "account is not bound to the device",
	codeAccountNotFound:     "account not found",
	codeWrongPassword:       "wrong password",
	codeAccountInactive:     "account inactive",
	codeWrongCode:           "verification code error",
	codeTokenExpired:        "token expired",
	codeTokenIncorrect:      "token incorrect",
	codeRefreshExpired:      "refresh token expired",
	codeRefreshIncorrect:    "refresh token incorrect",
	codeAccountLocked:       "account locked",
	-20662:                  "device locked after too many verification-code requests",
	codeLoggedInElsewhere:   "account logged in elsewhere",
	codeCodeExpired:         "verification code no longer valid",
	codeVerificationNeeded:  "verification code required (MFA)",
	-21001:                  "too many verification-code requests from this IP",
	codeAppVersionTooOld2FA: "2FA is enabled: V1 login refused; set api: v2 on this account",
}

// CodeMeaning returns a short English explanation of a cloud error code, or
// "unknown error code" for codes outside the known table.
func CodeMeaning(code int) string { return codeMeanings.Of(code) }

// APIError is a non-zero error_code in a cloud response envelope.
//
// It unwraps to the matching cloud sentinel: cloud.ErrDeviceOffline (-20571),
// cloud.ErrUnknownDevice (-20580, -20501, -20506, -20507), cloud.ErrAuth
// (credential codes: -20600, -20601, -20602, -20661, -20677, -23003) and
// cloud.ErrRateLimited (-20004, -10200, -10201) and cloud.ErrUnavailable for
// the answers that say the cloud failed or was busy this time (-20000 server
// error, -20002 request timeout, -20003 server busy): trying again later may
// work. Token codes (-20651, -20652, -20675) map to no sentinel: the
// provider renews the token itself.
type APIError struct {
	// Method is the cloud method that failed, e.g. "passthrough".
	Method string
	// Code is the cloud's error_code (negative).
	Code int
	// Msg is the cloud's own message, possibly empty.
	Msg string
}

// Error names the method, the code and its meaning, and the cloud's message
// when it adds something.
func (e *APIError) Error() string {
	return apierr.Message(e.Method, "cloud", e.Code, CodeMeaning(e.Code), e.Msg, "")
}

// Unwrap returns the cloud sentinel matching the code, or nil.
func (e *APIError) Unwrap() error { return sentinelFor(e.Code) }

func sentinelFor(code int) error {
	switch code {
	case codeDeviceOffline:
		return cloud.ErrDeviceOffline
	case codeNotBound, codeDeviceNotFound, codeDeviceOtherAccount, codeDeviceUnbound:
		return cloud.ErrUnknownDevice
	case codeAccountNotFound, codeWrongPassword, codeAccountInactive, codeAccountLocked,
		codeVerificationNeeded, codeAppVersionTooOld2FA:
		return cloud.ErrAuth
	case codeAPIRateLimit, codeRateLimitIP, codeRateLimitUser:
		return cloud.ErrRateLimited
	case codeServerError, codeRequestTimeout, codeServerBusy:
		return cloud.ErrUnavailable
	}
	return nil
}

// apiCode returns the code of the *APIError in err's chain.
func apiCode(err error) (int, bool) {
	return apierr.CodeOf(err, func(e *APIError) int { return e.Code })
}

// isTokenError reports whether err says the session token is no longer
// accepted, so that a refresh or re-login may cure it.
func isTokenError(err error) bool {
	code, ok := apiCode(err)
	return ok && (code == codeTokenExpired || code == codeTokenIncorrect || code == codeLoggedInElsewhere)
}

// loginRefusal reports whether a login error code is terminal (retrying
// cannot help and may lock the account) and a short reason for the log.
func loginRefusal(code int) (string, bool) {
	switch code {
	case codeWrongPassword:
		return "wrong password", true
	case codeAccountNotFound:
		return "account not found", true
	case codeAccountInactive:
		return "account inactive", true
	case codeAccountLocked:
		return "account locked", true
	case codeAppVersionTooOld2FA:
		return "2FA is enabled: V1 login refused; set api: v2 on this account", true
	case codeVerificationNeeded:
		return "a verification code (two-step verification) is required", true
	}
	return "", false
}
