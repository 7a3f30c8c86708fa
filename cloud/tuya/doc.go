// Package tuya is the Tuya cloud provider: it talks to the Tuya OpenAPI
// ("cloud development", IoT Core) of one cloud project, identified by its
// Access ID and Access Secret, lists the project's plugs, power strips and
// lights, reads them in batches and switches (and dims and colours) them,
// translating everything into the neutral model of package cloud. Lights
// (categories dj, tgq, tgkg, hxd) are mapped as Home Assistant's Tuya
// integration maps them: see light.go and lightstate.go.
//
// # Protocol
//
// Every request is signed with HMAC-SHA256 (current algorithm, reference
// §1): headers client_id, sign, sign_method, t, nonce and, on business
// calls, access_token. The string to sign is the method, the SHA-256 of the
// exact body bytes sent, an empty signed-header block and the path with its
// decoded query sorted by key. Answers are {"success","code","msg","t",
// "result"} envelopes; a failure becomes *APIError, which unwraps to the
// cloud sentinel errors.
//
// Endpoints used:
//
//   - tokens: GET /v1.0/token?grant_type=1 (simple mode), grant_type=2&code=…
//     (code mode, ExchangeCode), GET /v1.0/token/{refresh_token};
//   - device list: GET /v1.0/iot-01/associated-users/devices, paged with
//     last_row_key/has_more (20 per page): the documented list of the
//     devices of every app account linked to the project, with category,
//     product name, online flag and sub-device flag. When Options.UserID is
//     set, or in code mode (the token's uid), GET /v1.0/users/{uid}/devices
//     paged with page_no/page_size instead. (The v2.0 "Query Devices in
//     Project" list is only documented by a third-party mirror, so it is
//     not used.)
//   - specifications: GET /v1.0/iot-03/devices/{id}/specification, status
//     and functions with type and values (unit, scale, min, max); cached
//     per device and re-read by ListDevices after 24 hours or when the
//     product id changes;
//   - status: GET /v1.0/iot-03/devices/status?device_ids=… with at most 20
//     ids per call;
//   - commands: POST /v1.0/iot-03/devices/{id}/commands.
//
// A poll of N plugs or strips therefore costs ⌈N/20⌉ calls (devices known
// to be offline are batched apart, see ReadStates); a list refresh
// ⌈N/20⌉ pages plus one specification call per new or day-old device; and
// the token about one refresh per two hours.
//
// # Tokens
//
// The access token, refresh token and expiry are kept in
// <StateDir>/tuya-<Account>.json (mode 0600, atomic writes), so a restart
// does not ask for a new token. The expiry is the token response's t plus
// expire_time, on the cloud's clock; the token is refreshed 60 s before it.
// A refresh token works once and its success kills the old pair, so
// renewals are serialised (concurrent callers share one) and the new pair
// is stored before it is used. A business call answered with 1010, 1011 or
// 1012 renews the token once and is replayed once. In simple mode a failed
// refresh falls back to a new grant; in code mode the provider never
// grants by itself: a dead refresh token stops the account with an error
// wrapping cloud.ErrLoginNeeded (a person must authorise again, see
// ExchangeCode), and tokens stored by that are picked up without a restart.
//
// # Clock
//
// Every answer's t updates an estimate of the cloud's clock and requests
// are signed with it, so a host whose clock is wrong does not get 1013
// ("request time invalid") after the first answer; a 1013 that corrected
// the estimate is replayed once, and one that persists is reported as a
// host clock problem.
//
// # Errors and back-off
//
// 1001, 1004, 1005 (secret, sign or client id invalid), 1106 and 2406
// (wrong data centre or app account not linked, naming the configured
// region), 28841002 (subscription expired) and 28841101/28841105 (API not
// authorised) wrap cloud.ErrAuth; except for 1106 they also stop the
// account's calls for an hour. When a token API (grant or refresh, signed
// with the access id and secret alone) answers 1001, 1004 or 1005, the
// configured credentials are wrong: the account makes no more calls until
// the process restarts. 500 and 1111 (system error, busy) wrap
// cloud.ErrUnavailable. 28841004 (trial
// quota used up) wraps cloud.ErrRateLimited and stops the account's calls
// for 6 hours, doubling up to 24 hours while it repeats: in that time every
// method returns the same error without contacting the cloud. 2001 (device
// offline) only marks the device's State.
//
// # Concurrency
//
// A Provider is safe for concurrent use. No lock is held during network I/O;
// a mutex guards the device cache and another the session. Every method
// takes a context and returns promptly, with an error wrapping ctx.Err(),
// when it is cancelled.
package tuya
