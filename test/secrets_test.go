package test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

// Secrets never leave the process except to the cloud that issued them:
// not in a log line (at any level, debug included), not in any MQTT
// message (bridge/info, bridge/devices, bridge/response, events, state),
// and not in a state file other than the token file they belong to. State
// files are 0600. checkSecrets enforces this on every harness test.

// minSecretLen is the shortest secret looked for; shorter strings would
// match ordinary text by chance. Every secret the fakes issue is longer.
const minSecretLen = 8

// secretWatch is what checkSecrets knows about one harness beyond the
// harness itself: the logs of every daemon run and extra secret sources.
type secretWatch struct {
	mu      sync.Mutex
	logs    []*observer.ObservedLogs
	sources []func() []string
}

var secretWatches sync.Map // *harness -> *secretWatch

func watchOf(h *harness) *secretWatch {
	w, _ := secretWatches.LoadOrStore(h, &secretWatch{})
	return w.(*secretWatch)
}

// checkSecrets makes h's test fail when a secret leaked (see above). It is
// called by newHarness; the check runs when the test ends, after the
// daemon stopped.
func checkSecrets(h *harness) {
	h.t.Cleanup(func() {
		defer secretWatches.Delete(h)
		for _, leak := range findLeaks(h) {
			h.t.Errorf("secret leak: %s", leak)
		}
	})
}

// noteLogs remembers the logs of one daemon run (called by start).
func noteLogs(h *harness, logs *observer.ObservedLogs) {
	w := watchOf(h)
	w.mu.Lock()
	w.logs = append(w.logs, logs)
	w.mu.Unlock()
}

// addSecretSource adds a function returning more secrets (e.g. a Tuya
// fake's Secrets), read when the test ends.
func addSecretSource(h *harness, src func() []string) {
	w := watchOf(h)
	w.mu.Lock()
	w.sources = append(w.sources, src)
	w.mu.Unlock()
}

// secret is one value to look for and what it is (never the value itself).
type secret struct {
	what  string
	value string
	// tokenFile is true for tokens, which the token files may hold.
	tokenFile bool
}

func (h *harness) secrets() []secret {
	var out []secret
	add := func(what, v string, tokenFile bool) {
		if len(v) >= minSecretLen {
			out = append(out, secret{what: what, value: v, tokenFile: tokenFile})
		}
	}
	add("the kasa password", password, false)
	for i, a := range h.cfg.Accounts {
		switch s := a.Settings.(type) {
		case *kasa.Config:
			add(fmt.Sprintf("account %d password", i), s.Password, false)
		case *tuya.Config:
			add(fmt.Sprintf("account %d access secret", i), s.AccessSecret, false)
		}
	}
	add("the MQTT password", h.cfg.MQTT.Password, false)
	for i, s := range h.fake.Secrets() {
		add(fmt.Sprintf("kasa token #%d issued by the fake", i+1), s, true)
	}
	w := watchOf(h)
	w.mu.Lock()
	sources := slices.Clone(w.sources)
	w.mu.Unlock()
	for n, src := range sources {
		for i, s := range src() {
			add(fmt.Sprintf("secret #%d of extra source %d (tuya fake: project secret, token, code or local key)", i+1, n+1), s, true)
		}
	}
	// The same value twice (the password in the config and the constant)
	// is looked for once.
	slices.SortFunc(out, func(a, b secret) int { return strings.Compare(a.value, b.value) })
	return slices.CompactFunc(out, func(a, b secret) bool { return a.value == b.value })
}

// forms are the spellings a secret can take in a log line or payload: as
// is, JSON-escaped, Go-quoted and URL-encoded.
func forms(v string) []string {
	out := []string{v}
	j, _ := json.Marshal(v)
	out = append(out, string(j[1:len(j)-1]))
	q := strconv.Quote(v)
	out = append(out, q[1:len(q)-1])
	out = append(out, url.QueryEscape(v), url.PathEscape(v))
	slices.Sort(out)
	return slices.Compact(out)
}

func containsSecret(text string, s secret) bool {
	for _, f := range forms(s.value) {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// findLeaks returns one line per leak found (naming the secret's kind and
// where it was, never the secret itself).
func findLeaks(h *harness) []string {
	secrets := h.secrets()
	var leaks []string
	report := func(where string, s secret) {
		leaks = append(leaks, fmt.Sprintf("%s found in %s", s.what, where))
	}

	w := watchOf(h)
	w.mu.Lock()
	runs := slices.Clone(w.logs)
	w.mu.Unlock()
	for run, logs := range runs {
		for _, e := range logs.All() {
			line := entryText(e)
			if e.Caller.Defined {
				line += " " + e.Caller.String()
			}
			line += " " + e.Stack
			for _, s := range secrets {
				if containsSecret(line, s) {
					report(fmt.Sprintf("log entry of run %d: %s %q", run+1, e.Level, e.Message), s)
				}
			}
		}
	}

	if h.rec != nil {
		for _, m := range h.rec.all() {
			for _, s := range secrets {
				if containsSecret(m.topic, s) || containsSecret(m.payload, s) {
					report("MQTT message on "+m.topic, s)
				}
			}
		}
	}

	// State files: mode 0600, the password and other accounts' secrets
	// never, tokens only in the token files.
	_ = filepath.WalkDir(h.stateDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(h.stateDir, path)
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.Mode().Perm() != 0o600 {
			leaks = append(leaks, fmt.Sprintf("state file %s has mode %v, want 0600", rel, fi.Mode().Perm()))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		tokenFile := isTokenFile(filepath.Base(path))
		for _, s := range secrets {
			if (!s.tokenFile || !tokenFile) && containsSecret(string(data), s) {
				report("state file "+rel, s)
			}
		}
		return nil
	})
	return leaks
}

// isTokenFile reports whether name is a provider's token file (or an
// interrupted write of one): kasa-<account>.json, tuya-<account>.json.
func isTokenFile(name string) bool {
	name = strings.TrimPrefix(name, ".")
	return strings.HasPrefix(name, "kasa-") || strings.HasPrefix(name, "tuya-")
}

// TestSecretsCheckFindsALeak shows that the check run on every harness test
// can fail: a token published on MQTT, a password in a log field and a
// world-readable state file are each reported, without the secret itself.
func TestSecretsCheckFindsALeak(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.fake.AddPlug(user, "Lamp", "HS103(US)")
	h.start()
	h.rec.waitMsg(0, base+"/lamp", contains(`"state"`))
	tokens := h.fake.Secrets()
	if len(tokens) == 0 {
		t.Fatal("the fake issued no token")
	}
	if leaks := findLeaks(h); len(leaks) != 0 {
		t.Fatalf("leaks before any was planted: %v", leaks)
	}

	from := h.rec.mark()
	h.rec.publish(base+"/leak", `{"x":"`+tokens[0]+`"}`, false)
	h.rec.waitMsg(from, base+"/leak", nil)
	stray := filepath.Join(h.stateDir, "stray.json")
	if err := os.WriteFile(stray, []byte(`{"p":`+strconv.Quote(password)+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
	leaks := findLeaks(h)
	want := []string{"kasa token #1 issued by the fake found in MQTT message on " + base + "/leak",
		"the kasa password found in state file stray.json", "state file stray.json has mode -rw-r--r--, want 0600"}
	for _, wl := range want {
		if !slices.Contains(leaks, wl) {
			t.Errorf("leak %q not reported; got %q", wl, leaks)
		}
	}
	for _, l := range leaks {
		for _, s := range h.secrets() {
			if strings.Contains(l, s.value) {
				t.Errorf("the report %q holds the secret itself", l)
			}
		}
	}

	// Undo the planted leaks so that this test's own check passes.
	h.rec.mu.Lock()
	h.rec.msgs = slices.DeleteFunc(h.rec.msgs, func(m msg) bool { return m.topic == base+"/leak" })
	h.rec.mu.Unlock()
	if err := os.Remove(stray); err != nil {
		t.Fatal(err)
	}
}
