package kasa

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

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
	return &tokenStore{path: filepath.Join(stateDir, "kasa-"+account+".json")}
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
		return tokenState{}, false, fmt.Errorf("load kasa tokens: %w", err)
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
		return fmt.Errorf("save kasa tokens: %w", err)
	}
	return nil
}
