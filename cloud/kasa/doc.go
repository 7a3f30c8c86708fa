// Package kasa is the TP-Link Kasa cloud provider: it logs in to the Kasa V1
// cloud API (wap.tplinkcloud.com), lists the devices on the account and reads
// and switches them through the cloud's "passthrough" method, translating
// everything into the neutral model of package cloud.
//
// # Protocol
//
// Every request is an HTTP POST of {"method":…,"params":{…}} answered with
// HTTP 200 and {"error_code":0,"result":…} or {"error_code":<negative>,"msg":…}.
// The session token travels in params.token (never in the URL). Commands to a
// device are a JSON string (requestData) carried by passthrough to the
// device's appServerUrl; the answer (responseData) holds one result per
// module.method, each with its own err_code. Cloud errors become *APIError,
// device verdicts *DeviceError; both unwrap to the cloud sentinel errors.
//
// # Sessions
//
// Tokens, the refresh token and the terminal UUID are kept in
// <StateDir>/kasa-<Account>.json (mode 0600, atomic writes), so a restart does
// not log in again. An expired token is renewed once (refreshToken first,
// then the password) however many calls notice it at the same time, and every
// such call is replayed once. A refused password (or 2FA) stops all further
// cloud traffic for the account until the process restarts.
//
// # Concurrency
//
// A Provider is safe for concurrent use. No lock is held during network I/O;
// a mutex guards the device cache and another the session. ListDevices and
// ReadStates fan out to at most Options.Concurrency passthrough requests at a
// time. Every method takes a context and returns promptly, with an error
// wrapping ctx.Err(), when it is cancelled.
package kasa
