package tuya

import "github.com/kasa2mqtt/kasa2mqtt/cloud/internal/tokenstore"

// tokenState is the persisted session of one account. The access secret is
// never part of it.
type tokenState struct {
	// AccessID, Endpoint and Auth say what the tokens belong to; tokens of
	// another project, data centre or mode are discarded at load.
	AccessID string `json:"access_id"`
	Endpoint string `json:"endpoint"`
	Auth     string `json:"auth"`
	// UID is the user id the token was issued for.
	UID          string `json:"uid,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// ExpireAtMS is when the access token expires, on the cloud's clock:
	// the token response's t plus expire_time.
	ExpireAtMS int64 `json:"expire_at_ms,omitempty"`
}

// tokenStore is the token file <state dir>/tuya-<account>.json; nil
// without a state directory.
type tokenStore = tokenstore.Store[tokenState]

func newTokenStore(stateDir, account string) *tokenStore {
	return tokenstore.New[tokenState](stateDir, "tuya-"+account+".json", "tuya tokens")
}
