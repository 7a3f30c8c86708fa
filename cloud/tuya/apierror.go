package tuya

import (
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/apierr"
)

// Envelope error codes the provider acts on (reference §2.5). The full
// table of known meanings is codeMeanings.
const (
	codeSystemError       = 500
	codeSecretInvalid     = 1001
	codeTokenNull         = 1002
	codeGrantInvalid      = 1003
	codeSignInvalid       = 1004
	codeClientIDInvalid   = 1005
	codeTokenExpired      = 1010
	codeTokenInvalid      = 1011
	codeTokenStatus       = 1012
	codeTimeInvalid       = 1013
	codeParamRange        = 1101
	codePermissionDeny    = 1106
	codeCodeInvalid       = 1107
	codeConcurrency       = 1110
	codeSystemBusy        = 1111
	codeTooFrequent       = 1199
	codeDeviceOffline     = 2001
	codeFunctionNotSupp   = 2003
	codeCommandNotSupp    = 2008
	codeDeviceNotSupp     = 2009
	codeDeviceNotExist    = 2010
	codeSkillInvalid      = 2406
	codeSubscriptionEnded = 28841002
	codeQuotaUsedUp       = 28841004
	codeAPINotAuthorized  = 28841101
	codeAPINotAuthorized2 = 28841105
)

// codeMeanings explains the cloud's error codes for logs and errors.
var codeMeanings = apierr.Meanings{
	codeSystemError:       "system error (network or timeout on Tuya's side); retried at the next poll",
	1000:                  "data not exist",
	codeSecretInvalid:     "secret invalid: check access_secret",
	codeTokenNull:         "access_token is null",
	codeGrantInvalid:      "grant type or authorization code invalid",
	codeSignInvalid:       "sign invalid: check access_id and access_secret",
	codeClientIDInvalid:   "client id invalid: check access_id",
	1006:                  "content type not supported",
	1007:                  "key not supported",
	1008:                  "invalid access",
	codeTokenExpired:      "token expired (or invalidated because another program uses the same project)",
	codeTokenInvalid:      "token invalid",
	codeTokenStatus:       "token status invalid",
	codeTimeInvalid:       "request time invalid: the host clock differs too much from Tuya's",
	1100:                  "param is empty",
	codeParamRange:        "params range invalid",
	1102:                  "param is null",
	1103:                  "command issue error",
	1104:                  "type is incorrect",
	1105:                  "missing the header",
	codePermissionDeny:    "permission denied: wrong data centre, or the app account is not linked to the cloud project",
	codeCodeInvalid:       "authorization code invalid",
	1108:                  "uri path invalid",
	1109:                  "param is illegal",
	codeConcurrency:       "concurrent request over limit",
	codeSystemBusy:        "system busy, retry later",
	codeTooFrequent:       "requests too frequent",
	codeDeviceOffline:     "device is offline",
	2002:                  "this user does not have any devices",
	codeFunctionNotSupp:   "function not supported",
	2005:                  "product does not exist",
	2006:                  "user does not exist",
	codeCommandNotSupp:    "command or value not supported",
	codeDeviceNotSupp:     "device not supported",
	codeDeviceNotExist:    "device does not exist",
	codeSkillInvalid:      "skill id invalid: wrong data centre, or a project created before 2021-05-25",
	codeSubscriptionEnded: "the cloud development (IoT Core) subscription has expired: extend it in the Tuya developer console",
	codeQuotaUsedUp:       "the Trial Edition API quota is used up",
	codeAPINotAuthorized:  "the project is not authorized to call this API: subscribe to IoT Core and Authorization in the Tuya developer console",
	codeAPINotAuthorized2: "the project is not authorized to call this API: subscribe to IoT Core and Authorization in the Tuya developer console",
}

// CodeMeaning returns a short English explanation of a Tuya error code, or
// "unknown error code" for codes outside the known table.
func CodeMeaning(code int) string { return codeMeanings.Of(code) }

// APIError is a response envelope with success false.
//
// It unwraps to the matching cloud sentinel: cloud.ErrAuth for credential,
// data-centre and subscription codes (1001, 1004, 1005, 1106, 2406,
// 28841002, 28841101, 28841105), cloud.ErrRateLimited for 28841004 (quota
// used up), 1110 and 1199, cloud.ErrUnavailable for 500 (system error) and
// 1111 (system busy), which may pass, cloud.ErrDeviceOffline for 2001,
// cloud.ErrUnknownDevice for 2010 and cloud.ErrUnsupported for 2003, 2008
// and 2009. Token codes (1010, 1011, 1012) and 1013 map to no sentinel: the
// provider renews the token or corrects its clock itself.
type APIError struct {
	// Op names the request, e.g. "GET /v1.0/iot-03/devices/status". Token
	// paths never contain the refresh token.
	Op string
	// Code is the envelope's code (-1 when the envelope had none).
	Code int
	// Msg is the cloud's own message, possibly empty.
	Msg string
	// Hint adds what to check, e.g. the configured data centre; may be
	// empty.
	Hint string
}

// Error names the request, the code, its meaning, the cloud's message when
// it adds something, and the hint.
func (e *APIError) Error() string {
	meaning := CodeMeaning(e.Code)
	if e.Code == -1 {
		meaning = "request failed without an error code"
	}
	return apierr.Message(e.Op, "tuya", e.Code, meaning, e.Msg, e.Hint)
}

// Unwrap returns the cloud sentinel matching the code, or nil.
func (e *APIError) Unwrap() error { return sentinelFor(e.Code) }

func sentinelFor(code int) error {
	switch code {
	case codeSecretInvalid, codeSignInvalid, codeClientIDInvalid, codePermissionDeny, codeSkillInvalid,
		codeSubscriptionEnded, codeAPINotAuthorized, codeAPINotAuthorized2:
		return cloud.ErrAuth
	case codeQuotaUsedUp, codeConcurrency, codeTooFrequent:
		return cloud.ErrRateLimited
	case codeSystemError, codeSystemBusy:
		return cloud.ErrUnavailable
	case codeDeviceOffline:
		return cloud.ErrDeviceOffline
	case codeDeviceNotExist:
		return cloud.ErrUnknownDevice
	case codeFunctionNotSupp, codeCommandNotSupp, codeDeviceNotSupp:
		return cloud.ErrUnsupported
	}
	return nil
}

// apiCode returns the code of the *APIError in err's chain.
func apiCode(err error) (int, bool) {
	return apierr.CodeOf(err, func(e *APIError) int { return e.Code })
}

// isTokenCode reports the codes that say the access token is no longer
// accepted, so that a fresh token may cure them.
func isTokenCode(code int) bool {
	return code == codeTokenExpired || code == codeTokenInvalid || code == codeTokenStatus || code == codeTokenNull
}

// isTokenError reports whether err carries a token code.
func isTokenError(err error) bool {
	code, ok := apiCode(err)
	return ok && isTokenCode(code)
}

// isHoldCode reports the codes after which calling again cannot help until
// someone changes the configuration or the Tuya console: the provider then
// stops calling the cloud for authHold.
func isHoldCode(code int) bool {
	switch code {
	case codeSecretInvalid, codeSignInvalid, codeClientIDInvalid, codeSkillInvalid,
		codeSubscriptionEnded, codeAPINotAuthorized, codeAPINotAuthorized2:
		return true
	}
	return false
}

// isCredentialCode reports the codes that say the configured access id or
// secret is wrong when a token API (grant or refresh) answers them. Only a
// configuration change cures that, and it needs a restart, so the provider
// then stops calling the cloud until then: at most one attempt per start,
// like a refused Kasa password. From any other API (whose sign covers the
// access token and the request too) they pause the account for authHold,
// as isHoldCode says.
func isCredentialCode(code int) bool {
	switch code {
	case codeSecretInvalid, codeSignInvalid, codeClientIDInvalid:
		return true
	}
	return false
}

// isTransientCode reports codes that say nothing about the request itself
// (the cloud was busy or failed), so a refresh token is not presumed dead.
func isTransientCode(code int) bool {
	switch code {
	case codeSystemError, codeConcurrency, codeSystemBusy, codeTooFrequent, codeTimeInvalid, codeQuotaUsedUp:
		return true
	}
	return false
}
