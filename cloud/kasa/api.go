package kasa

import (
	"context"
	"encoding/json"
)

// api is one generation of the Kasa cloud API, as the session and the
// provider use it: how to get tokens (password login, refresh) and how to
// send the account's requests (getDeviceList, passthrough) with a token.
// Implementations are immutable and safe for concurrent use.
type api interface {
	// login logs in with password as terminal. A refusal is an *APIError
	// (or wraps one); a two-step verification is an *MFARequiredError.
	login(ctx context.Context, terminal, password string) (grant, error)
	// refresh trades the refresh token of this generation in st for new
	// tokens.
	refresh(ctx context.Context, st tokenState) (grant, error)
	// call sends method with the params params builds to endpoint and
	// returns the result. V1 puts the token in the params (params(token));
	// V2 signs the request and puts it in the query (params("")).
	call(ctx context.Context, endpoint, method string, params func(token string) any, token string) (json.RawMessage, error)
	// slot returns this generation's tokens in st.
	slot(st *tokenState) *tokens
	// server returns where the account's own requests go (getDeviceList):
	// the configured URL for V1, the regional server for V2.
	server(st tokenState) string
}

// grant is what a login or refresh returns: new tokens and, for V2, the
// regional server they belong to ("" keeps the one known).
type grant struct {
	Token, RefreshToken string
	URL                 string
}
