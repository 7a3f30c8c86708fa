package kasa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/httpx"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// V2 paths (reference §5.2, §5.6).
const (
	v2PathAccountStatus = "/api/v2/account/getAccountStatusAndUrl"
	v2PathLogin         = "/api/v2/account/login"
	v2PathRefresh       = "/api/v2/account/refreshToken"
	v2PathPushCode      = "/api/v2/account/getPushVC4TerminalMFA"
	v2PathEmailCode     = "/api/v2/account/getEmailVC4TerminalMFA"
	v2PathCheckCode     = "/api/v2/account/checkMFACodeAndLogin"
)

// v2API is the signed API: regional discovery on the entry host, then
// everything on the account's regional server; getDeviceList and
// passthrough carry the V1 envelope, signed, with the token in the query.
type v2API struct {
	c        *v2Client
	entry    *url.URL // the configured URL: where discovery starts, and a trusted origin
	username string
}

var _ api = (*v2API)(nil)

type v2StatusRequest struct {
	AppType       string `json:"appType"`
	CloudUserName string `json:"cloudUserName"`
}

type v2LoginRequest struct {
	AppType            string `json:"appType"`
	AppVersion         string `json:"appVersion"`
	CloudPassword      string `json:"cloudPassword"`
	CloudUserName      string `json:"cloudUserName"`
	Platform           string `json:"platform"`
	RefreshTokenNeeded bool   `json:"refreshTokenNeeded"`
	SupportBindAccount bool   `json:"supportBindAccount"`
	TerminalUUID       string `json:"terminalUUID"`
	TerminalName       string `json:"terminalName"`
	TerminalMeta       string `json:"terminalMeta"`
}

type v2RefreshRequest struct {
	AppType      string `json:"appType"`
	RefreshToken string `json:"refreshToken"`
	TerminalUUID string `json:"terminalUUID"`
}

// discover asks the entry host for the account's regional server
// (getAccountStatusAndUrl) and checks it like any server named by the
// cloud (checkAppServerURL).
func (a *v2API) discover(ctx context.Context) (string, error) {
	res, err := a.c.post(ctx, a.entry.String(), v2PathAccountStatus, "getAccountStatusAndUrl",
		v2StatusRequest{AppType: v2AppType, CloudUserName: a.username}, "")
	if err != nil {
		return "", err
	}
	obj, _ := jsonv.Object(res)
	raw, _ := jsonv.String(obj["appServerUrl"])
	if raw == "" {
		return "", fmt.Errorf("getAccountStatusAndUrl: response without appServerUrl")
	}
	server, err := checkAppServerURL(raw, a.entry)
	if err != nil {
		return "", fmt.Errorf("getAccountStatusAndUrl: %w", err)
	}
	return server, nil
}

// login discovers the regional server and logs in there: two calls.
func (a *v2API) login(ctx context.Context, terminal, password string) (grant, error) {
	server, err := a.discover(ctx)
	if err != nil {
		return grant{}, err
	}
	res, err := a.c.post(ctx, server, v2PathLogin, "login", v2LoginRequest{
		AppType:            v2AppType,
		AppVersion:         v2AppVer,
		CloudPassword:      password,
		CloudUserName:      a.username,
		Platform:           "Android",
		RefreshTokenNeeded: true,
		TerminalUUID:       terminal,
		TerminalName:       v2Device,
		TerminalMeta:       v2Device,
	}, "")
	if code, ok := apiCode(err); ok && code == codeVerificationNeeded {
		return grant{}, newMFARequired(res, server, err)
	}
	if err != nil {
		return grant{}, err
	}
	return v2Grant("login", res, server)
}

func (a *v2API) refresh(ctx context.Context, st tokenState) (grant, error) {
	server := st.V2.URL
	if server == "" {
		var err error
		if server, err = a.discover(ctx); err != nil {
			return grant{}, err
		}
	}
	res, err := a.c.post(ctx, server, v2PathRefresh, "refreshToken", v2RefreshRequest{
		AppType:      v2AppType,
		RefreshToken: st.V2.RefreshToken,
		TerminalUUID: st.TerminalUUID,
	}, "")
	if err != nil {
		return grant{}, err
	}
	return v2Grant("refreshToken", res, server)
}

// v2Grant reads the tokens of a login, refresh or code check.
func v2Grant(op string, res json.RawMessage, server string) (grant, error) {
	obj, _ := jsonv.Object(res)
	token, _ := jsonv.String(obj["token"])
	refresh, _ := jsonv.String(obj["refreshToken"])
	if token == "" {
		return grant{}, fmt.Errorf("%s: %w", op, errNoToken)
	}
	return grant{Token: token, RefreshToken: refresh, URL: server}, nil
}

// call posts the V1 envelope {"method":…,"params":…} to endpoint's "/",
// signed, with the token in the query (params gets no token).
func (a *v2API) call(ctx context.Context, endpoint, method string, params func(token string) any, token string) (json.RawMessage, error) {
	return a.c.post(ctx, endpoint, "/", method, envelopeRequest{Method: method, Params: params("")}, token)
}

func (a *v2API) slot(st *tokenState) *tokens { return &st.V2.tokens }

func (a *v2API) server(st tokenState) string { return st.V2.URL }

// newV2API builds the V2 API of an account: its own HTTP client trusting
// only opts.V2.RootCAs (default V2RootCAs), the key pair, the terminal.
func newV2API(opts Options, entry *url.URL, terminal string, observe func(string, error)) (*v2API, error) {
	pool := opts.V2.RootCAs
	if pool == nil {
		pool = V2RootCAs()
	}
	hc, err := httpx.WithRootCAs(opts.HTTPClient, pool)
	if err != nil {
		return nil, fmt.Errorf("api v2: %w", err)
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = cloud.DefaultRequestTimeout
	}
	return &v2API{
		c: &v2Client{
			http: httpx.NewCaller(hc, timeout).LimitPerHost(concurrency(opts)), accessKey: opts.V2.AccessKey, secretKey: opts.V2.SecretKey,
			terminal: terminal, nonce: newNonce, observe: observe,
		},
		entry:    entry,
		username: opts.Username,
	}, nil
}
