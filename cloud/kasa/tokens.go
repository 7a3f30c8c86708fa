package kasa

import "github.com/kasa2mqtt/kasa2mqtt/cloud/internal/tokenstore"

// tokenState is the persisted session of one account. The password is
// never part of it. V1 and V2 tokens are kept apart (a V1 token is of no
// use to V2 and the other way round); the terminal UUID is shared.
type tokenState struct {
	// Username is the e-mail the tokens belong to; tokens of another user
	// are discarded at load.
	Username string `json:"username"`
	// TerminalUUID identifies this installation to the cloud. It is made
	// once and kept forever, even when the tokens are discarded.
	TerminalUUID string `json:"terminal_uuid"`
	// tokens are the V1 tokens (the JSON keys of the first release).
	tokens
	// V2 holds the V2 session; absent until a V2 login.
	V2 v2State `json:"v2,omitzero"`
}

// tokens are one API generation's token and refresh token.
type tokens struct {
	Token        string `json:"token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// v2State is the V2 part of the session file.
type v2State struct {
	tokens
	// URL is the account's regional server (from getAccountStatusAndUrl),
	// where the account's requests go.
	URL string `json:"url,omitempty"`
	// MFA is a verification started by `kasa2mqtt login` and not finished
	// yet, so that a second run can complete it with the code.
	MFA *pendingMFA `json:"mfa_pending,omitempty"`
}

// pendingMFA is a two-step verification under way.
type pendingMFA struct {
	// ProcessID is the cloud's MFA process id from the login answer.
	ProcessID string `json:"process_id"`
	// Methods are the ways the cloud offered to send the code.
	Methods []MFAMethod `json:"methods,omitempty"`
	// Requested is the way the code was last requested, "" before.
	Requested MFAMethod `json:"requested,omitempty"`
}

// tokenStore is the token file <state dir>/kasa-<account>.json; nil
// without a state directory.
type tokenStore = tokenstore.Store[tokenState]

func newTokenStore(stateDir, account string) *tokenStore {
	return tokenstore.New[tokenState](stateDir, "kasa-"+account+".json", "kasa tokens")
}
