package tokenstore

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type session struct {
	User  string `json:"user"`
	Token string `json:"token,omitempty"`
}

func TestStore_RoundTripWithMode0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := New[session](dir, "kasa-home.json", "kasa tokens")
	if s.Path() != filepath.Join(dir, "kasa-home.json") {
		t.Errorf("Path = %q", s.Path())
	}
	if _, found, err := s.Load(); found || err != nil {
		t.Fatalf("Load of a missing file: found %v, err %v", found, err)
	}
	if err := s.Save(session{User: "a", Token: "t1"}); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Load()
	if err != nil || !found || got != (session{User: "a", Token: "t1"}) {
		t.Fatalf("Load = %+v, %v, %v", got, found, err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestStore_NilStoresNothing(t *testing.T) {
	s := New[session]("", "x.json", "x")
	if s != nil || s.Path() != "" {
		t.Fatalf("New without a state dir = %v", s)
	}
	if err := s.Save(session{Token: "t"}); err != nil {
		t.Error(err)
	}
	if _, found, err := s.Load(); found || err != nil {
		t.Errorf("Load = %v, %v", found, err)
	}
}

// A file that does not decode is an error naming what and where, never
// what it holds.
func TestStore_CorruptFile(t *testing.T) {
	dir := t.TempDir()
	s := New[session](dir, "tuya-home.json", "tuya tokens")
	if err := os.WriteFile(s.Path(), []byte(`{"token":"SECRET-TOKEN"`), 0o600); err != nil {
		t.Fatal(err)
	}
	v, found, err := s.Load()
	if err == nil || found || v != (session{}) {
		t.Fatalf("Load = %+v, %v, %v", v, found, err)
	}
	if !strings.HasPrefix(err.Error(), "load tuya tokens: ") || !strings.Contains(err.Error(), s.Path()) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("err = %v", err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if os.Geteuid() != 0 {
		if err := s.Save(session{}); err == nil || !strings.HasPrefix(err.Error(), "save tuya tokens: ") {
			t.Errorf("Save into a read-only dir: %v", err)
		}
	}
}

// Concurrent saves never leave a torn file.
func TestStore_ConcurrentSaves(t *testing.T) {
	s := New[session](t.TempDir(), "s.json", "s")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := s.Save(session{User: strings.Repeat("u", i+1)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v, found, err := s.Load(); err != nil || !found || v.User == "" {
		t.Errorf("Load = %+v, %v, %v", v, found, err)
	}
}

// Account names name state files: nothing that leaves the directory.
func TestCheckAccount(t *testing.T) {
	for name, want := range map[string]string{
		"home": "", "office-tuya": "", "Ünïcode": "",
		"": "empty", ".": "not allowed", "..": "not allowed",
		"a/b": "path separator", `a\b`: "path separator", "a\x00b": "path separator",
	} {
		err := CheckAccount(name)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckAccount(%q) = %v, want nil", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckAccount(%q) = %v, want an error saying %q", name, err, want)
		}
	}
}
