// Package kasa is the TP-Link Kasa cloud provider: it logs in to the Kasa
// cloud, lists the devices on the account and reads and switches them
// through the cloud's "passthrough" method, translating everything into the
// neutral model of package cloud. It speaks both API generations
// (Options.API): V1, the legacy unsigned API on wap.tplinkcloud.com, and V2,
// the signed API of the current Kasa apps.
//
// # Protocol
//
// V1: every request is an HTTP POST of {"method":…,"params":{…}} answered
// with HTTP 200 and {"error_code":0,"result":…} or
// {"error_code":<negative>,"msg":…}. The session token travels in
// params.token (never in the URL).
//
// V2: every request is signed (Content-MD5 of the exact bytes sent,
// HMAC-SHA1 with the app's key pair, X-Authorization) and carries the V2
// query; the token travels in the query. Login starts with regional
// discovery on the entry host, then everything goes to the account's
// regional server; the device list and passthrough are the V1 envelopes,
// signed. Errors are the outer error_code or result.errorCode (a number or
// a string). V2 hosts are trusted through a certificate pool of TP-Link's
// roots (V2RootCAs) used by that account only.
//
// In both, commands to a device are a JSON string (requestData) carried by
// passthrough to the device's appServerUrl; the answer (responseData) holds
// one result per module.method, each with its own err_code. Cloud errors
// become *APIError, device verdicts *DeviceError; both unwrap to the cloud
// sentinel errors.
//
// # Sessions
//
// Tokens, the refresh token and the terminal UUID are kept in
// <StateDir>/kasa-<Account>.json (mode 0600, atomic writes; V1 and V2
// tokens apart, one terminal UUID), so a restart does not log in again. An
// expired token is renewed once (refreshToken first, then the password)
// however many calls notice it at the same time, and every such call is
// replayed once. A refused password (or 2FA on V1) stops all further cloud
// traffic for the account until the process restarts. A V2 login that asks
// for a verification code (two-step verification) is completed by a person
// (Provider.Login, RequestMFACode, CompleteMFA: `kasa2mqtt login`); the
// daemon's provider never asks for a code and reports cloud.ErrLoginNeeded
// until such a login stores tokens, which it picks up without a restart.
//
// # Concurrency
//
// A Provider is safe for concurrent use. No lock is held during network I/O;
// a mutex guards the device cache and another the session. ListDevices and
// ReadStates fan out to at most Options.Concurrency passthrough requests at a
// time. Every method takes a context and returns promptly, with an error
// wrapping ctx.Err(), when it is cancelled.
package kasa
