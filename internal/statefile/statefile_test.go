package statefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteJSONIsPrivateAndReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tokens.json")
	in := map[string]string{"token": "secret"}
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != Mode {
		t.Fatalf("mode %v, err %v; want %v", fi.Mode().Perm(), err, Mode)
	}
	var out map[string]string
	found, err := ReadJSON(path, &out)
	if err != nil || !found || out["token"] != "secret" {
		t.Fatalf("ReadJSON = %v, %v, %v", out, found, err)
	}
	// Overwrite: still 0600, no temp files left behind.
	if err := WriteJSON(path, map[string]string{"token": "new"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after two writes, want 1", len(entries))
	}
}

func TestReadJSONMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	var v map[string]any
	if found, err := ReadJSON(filepath.Join(dir, "none.json"), &v); found || err != nil {
		t.Fatalf("missing file: %v, %v", found, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"trunc`), 0o600)
	if _, err := ReadJSON(bad, &v); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt file error %v does not name the file", err)
	}
}

func TestWriteRemovesStaleTempsOfInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "energy.json")
	stale := filepath.Join(dir, ".energy.json.tmp-111")
	fresh := filepath.Join(dir, ".energy.json.tmp-222")
	other := filepath.Join(dir, ".tokens.json.tmp-333")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte(`{"torn`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * StaleTemp)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteJSON(path, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp of the written file still there (%v)", err)
	}
	// A recent temp may belong to a write in progress in another process,
	// and another file's temp is that file's business.
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
