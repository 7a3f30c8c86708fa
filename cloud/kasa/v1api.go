package kasa

import (
	"context"
	"encoding/json"
	"fmt"
)

// v1API is the legacy API: unsigned envelopes to one global endpoint, the
// token in params.token.
type v1API struct {
	rt       *transport
	loginURL string // the configured cloud URL
	username string
}

var _ api = (*v1API)(nil)

type loginParams struct {
	AppType            string `json:"appType"`
	CloudUserName      string `json:"cloudUserName"`
	CloudPassword      string `json:"cloudPassword"`
	TerminalUUID       string `json:"terminalUUID"` // the key must be present
	RefreshTokenNeeded bool   `json:"refreshTokenNeeded"`
}

type refreshParams struct {
	AppType      string `json:"appType"`
	TerminalUUID string `json:"terminalUUID"`
	RefreshToken string `json:"refreshToken"`
}

type tokenResult struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refreshToken"`
}

func (a *v1API) login(ctx context.Context, terminal, password string) (grant, error) {
	res, err := a.rt.call(ctx, a.loginURL, "login", loginParams{
		AppType:            appType,
		CloudUserName:      a.username,
		CloudPassword:      password,
		TerminalUUID:       terminal,
		RefreshTokenNeeded: true,
	})
	if err != nil {
		return grant{}, err
	}
	var r tokenResult
	if err := json.Unmarshal(res, &r); err != nil || r.Token == "" {
		return grant{}, fmt.Errorf("login: %w", errNoToken)
	}
	return grant{Token: r.Token, RefreshToken: r.RefreshToken}, nil
}

func (a *v1API) refresh(ctx context.Context, st tokenState) (grant, error) {
	res, err := a.rt.call(ctx, a.loginURL, "refreshToken", refreshParams{
		AppType:      appType,
		TerminalUUID: st.TerminalUUID,
		RefreshToken: st.RefreshToken,
	})
	if err != nil {
		return grant{}, err
	}
	var r tokenResult
	if err := json.Unmarshal(res, &r); err != nil || r.Token == "" {
		return grant{}, fmt.Errorf("refreshToken: %w", errNoToken)
	}
	return grant{Token: r.Token, RefreshToken: r.RefreshToken}, nil
}

func (a *v1API) call(ctx context.Context, endpoint, method string, params func(token string) any, token string) (json.RawMessage, error) {
	return a.rt.call(ctx, endpoint, method, params(token))
}

func (a *v1API) slot(st *tokenState) *tokens { return &st.tokens }

func (a *v1API) server(tokenState) string { return a.loginURL }
