package tuya

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

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

// tokenStore reads and writes the token file. A nil *tokenStore (no state
// directory) stores nothing. Safe for concurrent use.
type tokenStore struct {
	path string
	mu   sync.Mutex // serialises writes to path
}

func newTokenStore(stateDir, account string) *tokenStore {
	if stateDir == "" {
		return nil
	}
	return &tokenStore{path: filepath.Join(stateDir, "tuya-"+account+".json")}
}

// Path returns the token file path, or "" when nothing is persisted.
func (s *tokenStore) Path() string {
	if s == nil {
		return ""
	}
	return s.path
}

// load returns the stored state; found is false when there is no file.
func (s *tokenStore) load() (st tokenState, found bool, err error) {
	if s == nil {
		return tokenState{}, false, nil
	}
	found, err = statefile.ReadJSON(s.path, &st)
	if err != nil {
		return tokenState{}, false, fmt.Errorf("load tuya tokens: %w", err)
	}
	return st, found, nil
}

// save writes st atomically with mode 0600.
func (s *tokenStore) save(st tokenState) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := statefile.WriteJSON(s.path, st); err != nil {
		return fmt.Errorf("save tuya tokens: %w", err)
	}
	return nil
}
