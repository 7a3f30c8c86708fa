// Package statefile reads and writes the small JSON files kept in the state
// directory (tokens, the Kasa terminal UUID, energy totals).
//
// Writes are atomic and durable: the data goes to a temporary file in the
// same directory, which is fsynced, renamed over the target and followed by
// an fsync of the directory. A crash at any point leaves either the old or
// the new file, never a torn one. Files are created with mode 0600 because
// several of them hold secrets. A crash between creating the temporary file
// and the rename leaves the temporary file behind (".<name>.tmp-<n>", mode
// 0600, never read); the next successful Write of the same path removes
// such leftovers once they are older than StaleTemp. The functions are safe
// for concurrent use on different paths; callers serialise writes to the
// same path.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mode is the permission of every state file.
const Mode fs.FileMode = 0o600

// StaleTemp is the age after which a temporary file of an interrupted
// write is removed by the next Write of the same path. It is far longer
// than any write takes, so that a write in progress in another process
// (such as `kasa2mqtt login` next to the daemon) is never disturbed.
const StaleTemp = time.Minute

// WriteJSON marshals v (indented) and writes it atomically to path, creating
// the parent directory (mode 0700) when missing.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("statefile: encode %s: %w", path, err)
	}
	return Write(path, append(data, '\n'))
}

// Write writes data atomically to path with mode 0600.
func Write(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("statefile: create dir: %w", err)
	}
	prefix := "." + filepath.Base(path) + ".tmp-"
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return fmt.Errorf("statefile: create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(Mode); err != nil {
		return fmt.Errorf("statefile: chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("statefile: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("statefile: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("statefile: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("statefile: rename to %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	removeStaleTemps(dir, prefix, time.Now().Add(-StaleTemp))
	return nil
}

// removeStaleTemps removes the temporary files named prefix* in dir that
// were last modified before cutoff: leftovers of writes interrupted by a
// crash. Errors are ignored; the next write tries again.
func removeStaleTemps(dir, prefix string, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// ReadJSON decodes the file at path into v. It returns (false, nil) when the
// file does not exist. A file that exists but does not decode is an error
// naming the path; the caller decides whether to start afresh.
func ReadJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statefile: read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("statefile: decode %s: %w", path, err)
	}
	return true, nil
}
