package kasa

import "github.com/kasa2mqtt/kasa2mqtt/cloud/internal/tokenstore"

// tokenState is the persisted session of one account. The password is
// never part of it.
type tokenState struct {
	// Username is the e-mail the tokens belong to; tokens of another user
	// are discarded at load.
	Username string `json:"username"`
	// TerminalUUID identifies this installation to the cloud. It is made
	// once and kept forever, even when the tokens are discarded.
	TerminalUUID string `json:"terminal_uuid"`
	Token        string `json:"token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// tokenStore is the token file <state dir>/kasa-<account>.json; nil
// without a state directory.
type tokenStore = tokenstore.Store[tokenState]

func newTokenStore(stateDir, account string) *tokenStore {
	return tokenstore.New[tokenState](stateDir, "kasa-"+account+".json", "kasa tokens")
}
