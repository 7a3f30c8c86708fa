// Package tokenstore keeps one account's session (tokens, ids the cloud
// must see again) in a typed JSON file of the state directory, written
// through internal/statefile: atomically, durably, mode 0600.
//
// The stored type decides what is persisted; it must never hold the
// password or the access secret. Errors name the file's path, never its
// contents.
package tokenstore

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// Store reads and writes the session file of type T. A nil *Store (no
// state directory) stores nothing and loads nothing. A Store is safe for
// concurrent use: writes are serialised, and a reader sees the old or the
// new file, never a mix.
type Store[T any] struct {
	path string
	what string
	mu   sync.Mutex // serialises writes to path
}

// New returns the store of file name in stateDir, or nil when stateDir is
// empty (no persistence). what names the contents in errors, e.g. "kasa
// tokens".
func New[T any](stateDir, name, what string) *Store[T] {
	if stateDir == "" {
		return nil
	}
	return &Store[T]{path: filepath.Join(stateDir, name), what: what}
}

// Path returns the file path, or "" when nothing is persisted.
func (s *Store[T]) Path() string {
	if s == nil {
		return ""
	}
	return s.path
}

// Load returns the stored value; found is false when there is no file (or
// no store). A file that does not decode is an error: the caller decides
// whether to start afresh.
func (s *Store[T]) Load() (v T, found bool, err error) {
	if s == nil {
		return v, false, nil
	}
	found, err = statefile.ReadJSON(s.path, &v)
	if err != nil {
		var zero T
		return zero, false, fmt.Errorf("load %s: %w", s.what, err)
	}
	return v, found, nil
}

// Save writes v atomically with mode 0600, creating the state directory
// (0700) when missing. On a nil store it does nothing.
func (s *Store[T]) Save(v T) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := statefile.WriteJSON(s.path, v); err != nil {
		return fmt.Errorf("save %s: %w", s.what, err)
	}
	return nil
}

// CheckAccount reports whether an account name can name the account's
// state files: not empty, not "." or "..", and without a path separator
// or NUL byte.
func CheckAccount(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("account name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("account name %q is not allowed", name)
	case strings.ContainsAny(name, `/\`+"\x00"):
		return fmt.Errorf("account name %q contains a path separator", name)
	}
	return nil
}
