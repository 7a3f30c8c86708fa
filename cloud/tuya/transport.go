package tuya

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
	"go.uber.org/zap"
)

// offsetNoise is how much a new clock-offset estimate may differ from the
// one a request was signed with before a 1013 answer is worth a replay.
const offsetNoise = 5 * time.Second

// request is one OpenAPI call. path holds only URL-safe characters (the
// callers check the ids they put in it), so the signed path and the sent
// path are the same bytes.
type request struct {
	method string
	path   string
	query  url.Values
	body   []byte // nil: no body
	// op names the call in errors and logs; it never holds a token.
	op string
}

// transport signs requests, sends them and decodes the envelopes. It owns
// the estimate of the cloud's clock and the account's call gate. Safe for
// concurrent use.
type transport struct {
	http     *httpx.Caller // bounds each round trip, whatever the caller's context allows
	base     string
	clientID string
	secret   string
	region   string
	now      func() time.Time
	log      *zap.Logger
	gate     *gate

	// observe, when set, is told about every round trip (after it ended).
	observe func(op string, err error)

	mu        sync.Mutex
	offset    time.Duration // cloud time minus host time
	warnedOff time.Duration // offset last logged
}

// newTransport builds a transport on hc (nil: the shared pooled client;
// redirects are never followed, so the signed headers, access token
// included, are never replayed to another host); each round trip ends
// after timeout (<= 0: cloud.DefaultRequestTimeout), with at most
// perHost round trips in flight (commands, cloud.Interactive, beside the
// bound; <= 0: DefaultConcurrency).
func newTransport(hc *http.Client, base, clientID, secret, region string, now func() time.Time, log *zap.Logger, timeout time.Duration, perHost int) *transport {
	if timeout <= 0 {
		timeout = cloud.DefaultRequestTimeout
	}
	if perHost <= 0 {
		perHost = DefaultConcurrency
	}
	return &transport{
		http: httpx.NewCaller(hc, timeout).LimitPerHost(perHost), base: base, clientID: clientID, secret: secret, region: region, now: now, log: log,
		gate: &gate{now: now, log: log},
	}
}

// serverNow is the estimated cloud time and the offset it used.
func (t *transport) serverNow() (time.Time, time.Duration) {
	t.mu.Lock()
	off := t.offset
	t.mu.Unlock()
	return t.now().Add(off), off
}

// learnOffset records the cloud's clock from a response sent at t0 and
// received at t1 (host time), assuming the cloud stamped it half-way.
func (t *transport) learnOffset(serverMS int64, t0, t1 time.Time) time.Duration {
	mid := t0.Add(t1.Sub(t0) / 2)
	off := time.UnixMilli(serverMS).Sub(mid)
	t.mu.Lock()
	t.offset = off
	logIt := (off - t.warnedOff).Abs() > time.Minute
	if logIt {
		t.warnedOff = off
	}
	t.mu.Unlock()
	if logIt {
		t.log.Warn("tuya host clock differs from the cloud's; signing requests with the cloud's time (check NTP and the time zone)",
			zap.String(keyOffset, off.Round(time.Second).String()))
	}
	return off
}

// do sends req, signed with accessToken unless req is a token API, and
// returns the result of a successful envelope. A 1013 answer (request time
// invalid) is replayed once when the answer's own time corrected the clock
// estimate. Errors name req.op, never a token or the secret.
func (t *transport) do(ctx context.Context, req request, accessToken string) (json.RawMessage, error) {
	res, _, err := t.doT(ctx, req, accessToken)
	return res, err
}

// doT is do that also returns the envelope's t (cloud time in ms, 0 when
// the answer had none).
func (t *transport) doT(ctx context.Context, req request, accessToken string) (json.RawMessage, int64, error) {
	if err := t.gate.check(); err != nil {
		return nil, 0, err
	}
	for attempt := 0; ; attempt++ {
		res, serverMS, corrected, err := t.once(ctx, req, accessToken)
		if code, ok := apiCode(err); ok && code == codeTimeInvalid {
			if attempt == 0 && corrected {
				t.log.Info("tuya cloud refused the request time; corrected the clock offset, retrying", zap.String(keyOp, req.op))
				continue
			}
			_, off := t.serverNow()
			var ae *APIError
			errors.As(err, &ae)
			ae.Hint = fmt.Sprintf("the cloud still refuses the request time after correcting for a host clock offset of %s: check the host clock (NTP) and time zone",
				off.Round(time.Second))
			t.log.Error("tuya cloud refuses the request time (1013) even after clock correction; check the host clock (NTP) and time zone",
				zap.String(keyOp, req.op), zap.String(keyOffset, off.Round(time.Second).String()))
		}
		return res, serverMS, t.gate.observe(err, isTokenPath(req.path))
	}
}

// once is one signed round trip. It returns the result, the envelope's t,
// whether the response moved the clock estimate by more than offsetNoise,
// and the error.
//
// The round trip ends after the request timeout at the latest. A network
// error, an HTTP 5xx status and that timeout wrap cloud.ErrUnavailable;
// the timeout is not a context error, so that callers tell it from their
// own cancellation (see httpx.Caller.Do).
func (t *transport) once(ctx context.Context, req request, accessToken string) (res json.RawMessage, serverMS int64, corrected bool, err error) {
	if t.observe != nil {
		defer func() { t.observe(req.op, err) }()
	}
	if isTokenPath(req.path) {
		accessToken = ""
	}
	now, used := t.serverNow()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	nonce := uuid.NewString()
	sts := stringToSign(req.method, req.body, nil, canonicalURL(req.path, req.query))

	target := t.base + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	// The header names are lower-case on the wire, as Tuya documents them.
	h := http.Header{
		"client_id":   {t.clientID},
		"sign":        {sign(t.clientID, t.secret, accessToken, ts, nonce, sts)},
		"sign_method": {signMethod},
		"t":           {ts},
		"nonce":       {nonce},
		"lang":        {"en"},
		"Accept":      {"application/json"},
	}
	if accessToken != "" {
		h["access_token"] = []string{accessToken}
	}
	if req.body != nil {
		h["Content-Type"] = []string{"application/json"}
	}

	t0 := t.now()
	data, err := t.http.Do(ctx, httpx.Request{Method: req.method, URL: target, Header: h, Body: req.body, Op: req.op})
	t1 := t.now()
	if err != nil {
		return nil, 0, false, err
	}
	res, serverMS, err = decodeEnvelope(req.op, data)
	if serverMS > 0 {
		off := t.learnOffset(serverMS, t0, t1)
		corrected = (off - used).Abs() > offsetNoise
	}
	var ae *APIError
	if errors.As(err, &ae) && (ae.Code == codePermissionDeny || ae.Code == codeSkillInvalid) {
		ae.Hint = t.dataCentreHint()
	}
	return res, serverMS, corrected, err
}

func (t *transport) dataCentreHint() string {
	where := fmt.Sprintf("endpoint %s", t.base)
	if t.region != "" {
		where = fmt.Sprintf("region %q (%s)", t.region, t.base)
	}
	return fmt.Sprintf("configured data centre: %s; it must be the data centre of the app account, and the app account must be linked to the cloud project (Devices > Link App Account in the Tuya developer console)", where)
}

// decodeEnvelope checks a response envelope and returns its result (JSON
// null when absent) and its t (0 when absent or implausible). An envelope
// with success false, or without success but with a non-zero code, becomes
// *APIError (code -1 when it has none).
func decodeEnvelope(op string, data []byte) (json.RawMessage, int64, error) {
	env, ok := jsonv.Object(data)
	if !ok {
		return nil, 0, fmt.Errorf("%s: malformed response: not a JSON object", op)
	}
	var serverMS int64
	if ms, ok := jsonv.Int64(env["t"]); ok && ms > 1e12 && ms < 1e14 {
		serverMS = ms
	}
	success, hasSuccess := jsonv.Bool(env["success"])
	code, hasCode := jsonv.Int(env["code"])
	if hasSuccess && success || !hasSuccess && (!hasCode || code == 0) && env["result"] != nil {
		res := env["result"]
		if len(bytes.TrimSpace(res)) == 0 {
			res = json.RawMessage("null")
		}
		return res, serverMS, nil
	}
	if !hasCode || code == 0 {
		code = -1
	}
	msg, _ := jsonv.String(env["msg"])
	return nil, serverMS, &APIError{Op: op, Code: code, Msg: msg}
}

// Back-off of the whole account after 28841004 (trial quota used up): 6h,
// doubling with each consecutive occurrence, at most 24h. After a
// console-side refusal (isHoldCode: subscription, API authorization) the
// account waits authHold; after a credential refusal (isCredentialCode) of
// a token API it waits credentialHold, in effect until the process
// restarts. A credential code from any other API waits authHold: there the
// sign covers the access token and the request too, so the code does not
// prove the configured access id or secret wrong.
const (
	quotaBackoffMin = 6 * time.Hour
	quotaBackoffMax = 24 * time.Hour
	authHold        = time.Hour
	credentialHold  = 100 * 365 * 24 * time.Hour
)

func quotaBackoff(strikes int) time.Duration {
	d := quotaBackoffMin
	for i := 1; i < strikes && d < quotaBackoffMax; i++ {
		d *= 2
	}
	return min(d, quotaBackoffMax)
}

// gate stops an account's calls for a while after answers that repeating
// cannot fix soon: the quota error and the configuration-type refusals.
// While closed it returns the error that closed it, without contacting the
// cloud.
type gate struct {
	now func() time.Time
	log *zap.Logger

	mu      sync.Mutex
	until   time.Time
	err     error
	strikes int // consecutive quota back-offs
}

func (g *gate) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil && g.now().Before(g.until) {
		return g.err
	}
	return nil
}

// observe inspects a call's outcome and returns the error to give the
// caller (the quota and hold errors say for how long calls stop). tokenCall
// tells whether the call was a token API (grant or refresh, signed with the
// access id and secret alone): only there does a credential code stop the
// account until restart.
func (g *gate) observe(err error, tokenCall bool) error {
	code, ok := apiCode(err)
	if !ok {
		if err == nil {
			g.mu.Lock()
			if !g.now().Before(g.until) {
				g.strikes = 0
			}
			g.mu.Unlock()
		}
		return err
	}
	var d time.Duration
	var why string
	switch {
	case code == codeQuotaUsedUp:
		g.mu.Lock()
		if g.err != nil && g.now().Before(g.until) {
			// Another call already closed the gate for this episode.
			e := g.err
			g.mu.Unlock()
			return e
		}
		g.strikes++
		d = quotaBackoff(g.strikes)
		g.mu.Unlock()
		why = "the Tuya Trial Edition API quota is used up (renew or upgrade the IoT Core plan in the Tuya developer console)"
	case isCredentialCode(code) && tokenCall:
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.err != nil && g.now().Before(g.until) {
			return g.err
		}
		g.until = g.now().Add(credentialHold)
		g.err = fmt.Errorf("%w; not calling the Tuya cloud for this account until kasa2mqtt is restarted", err)
		g.log.Error("tuya account stopped: the cloud refused the access id or secret; fix the configuration and restart",
			zap.Int(keyCode, code), zap.Error(err))
		return g.err
	case isHoldCode(code):
		d = authHold
		why = "the cloud refused the project's subscription or API authorization (fix it in the Tuya console)"
	default:
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.until = g.now().Add(d)
	g.err = fmt.Errorf("%w; not calling the Tuya cloud for this account until %s (%s)",
		err, g.until.UTC().Format(time.RFC3339), d)
	g.log.Error("tuya account paused: "+why, zap.Int(keyCode, code), zap.String(keyUntil, g.until.UTC().Format(time.RFC3339)),
		zap.String("back_off", d.String()), zap.Error(err))
	return g.err
}
