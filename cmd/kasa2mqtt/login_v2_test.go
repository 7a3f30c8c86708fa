package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// newV2Fake is a fake V2 cloud with the test account, two-step
// verification on, and one plug.
func newV2Fake(t *testing.T) *kasatest.Server {
	t.Helper()
	fake := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	t.Cleanup(fake.Close)
	fake.AddAccount(testUser, testPass)
	fake.Require2FA(testUser, true)
	fake.AddPlug(testUser, "Lamp", "HS103(US)")
	return fake
}

// writeV2Config writes a config with one V2 account (no password) on
// fake, trusting its test CA through v2.ca_file (relative to the config).
func writeV2Config(t *testing.T, fake *kasatest.Server) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	if err := os.WriteFile(filepath.Join(dir, "test-ca.pem"), fake.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "mqtt:\n  server: mqtt://127.0.0.1:1\naccounts:\n  - provider: kasa\n    name: home\n    username: " + testUser +
		"\n    url: " + fake.URL() + "\n    api: v2\n    v2:\n      access_key: " + kasatest.TestAccessKey +
		"\n      secret_key: " + kasatest.TestSecretKey + "\n      ca_file: test-ca.pem\nstate_dir: " + stateDir + "\n"
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

// A script logs a 2FA account in with two runs: -mfa-type requests the
// code (one line on stdout says where it went), the same command with
// -code completes the login (one line on stdout says so); the prompts go
// to stderr. `devices` then works on the stored tokens.
func TestLoginV2_Scripted(t *testing.T) {
	fake := newV2Fake(t)
	path, stateDir := writeV2Config(t, fake)

	code, out, errOut := runCLI(t, testPass+"\n", "login", "-c", path, "-account", "home", "-mfa-type", "email")
	if code != exitOK || !strings.HasPrefix(out, "Verification code sent to the e-mail address of "+testUser) || strings.Count(out, "\n") != 1 {
		t.Fatalf("request the code: exit %d, stdout %q, stderr %q; want one line on stdout", code, out, errOut)
	}
	if !strings.Contains(errOut, "Password: ") {
		t.Errorf("no password prompt on stderr: %q", errOut)
	}
	sent, typ, ok := fake.MFACode(testUser)
	if !ok || typ != 2 {
		t.Fatalf("no e-mail code sent (%v, %d)", ok, typ)
	}

	code, _, errOut = runCLI(t, testPass+"\n", "login", "-c", path, "-account", "home", "-mfa-type", "email", "-code", "9"+sent)
	if code != exitError || !strings.Contains(errOut, "-20607") || !strings.Contains(errOut, "verification code") {
		t.Errorf("a wrong code: exit %d, %s", code, errOut)
	}
	code, out, errOut = runCLI(t, testPass+"\n", "login", "-c", path, "-account", "home", "-mfa-type", "email", "-code", sent)
	if code != exitOK || !strings.HasPrefix(out, "Logged in.") || strings.Count(out, "\n") != 1 {
		t.Fatalf("complete: exit %d, stdout %q, stderr %q; want one line on stdout", code, out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(stateDir, "kasa-home.json"))
	if err != nil || !strings.Contains(string(data), `"v2"`) || strings.Contains(string(data), testPass) {
		t.Fatalf("token file: %s %v", data, err)
	}
	fake.ResetCalls()
	code, out, errOut = runCLI(t, "", "devices", "-c", path)
	if code != exitOK || !strings.Contains(out, "Lamp") || fake.Calls("login") != 0 {
		t.Errorf("devices after the login: exit %d, %d logins\n%s%s", code, fake.Calls("login"), out, errOut)
	}
}

// Interactively, login asks how to receive the code, then for the code,
// again after a wrong one, and stores the tokens.
func TestLoginV2_Interactive(t *testing.T) {
	fake := newV2Fake(t)
	path, _ := writeV2Config(t, fake)
	s := startCLI(t, "login", "-c", path)
	s.write(testPass + "\n")
	s.waitPrompt("Choice [1-2]: ")
	s.write("email\n")
	s.waitPrompt("Verification code: ")
	sent, typ, _ := fake.MFACode(testUser)
	if typ != 2 {
		t.Fatalf("code sent by %d, want e-mail", typ)
	}
	s.write("000" + sent + "\n")
	s.waitPrompt("Try again.")
	s.write(sent + "\n")
	if code := s.wait(); code != exitOK || !strings.HasPrefix(s.output(), "Logged in.") || strings.Count(s.output(), "\n") != 1 {
		t.Fatalf("exit %d, stdout %q; want the one line of the outcome\n%s", code, s.output(), s.errOutput())
	}
	if c, _ := fake.LastMFACheck(); !c.TerminalBindEnabled || c.MFAType != 2 {
		t.Errorf("check = %+v", c)
	}
}

// A code that is no longer valid (-20676, e.g. the person took too long)
// cannot be typed right again: login asks the cloud for a new one, the
// same way, says where it went and asks for it.
func TestLoginV2_ExpiredCodeSendsANewOne(t *testing.T) {
	fake := newV2Fake(t)
	path, _ := writeV2Config(t, fake)
	s := startCLI(t, "login", "-c", path, "-account", "home")
	s.write(testPass + "\nemail\n")
	s.waitPrompt("Verification code: ")
	old, _, _ := fake.MFACode(testUser)
	fake.ExpireMFACodes()
	s.write(old + "\n")
	s.waitPrompt("a new one was sent to the e-mail address of " + testUser)
	s.waitPrompt("Verification code: ")
	fresh, typ, _ := fake.MFACode(testUser)
	if fresh == old || typ != 2 {
		t.Fatalf("no new e-mail code (%q by %d)", fresh, typ)
	}
	s.write(fresh + "\n")
	if code := s.wait(); code != exitOK || !strings.HasPrefix(s.output(), "Logged in.") {
		t.Fatalf("exit %d, stdout %q\n%s", code, s.output(), s.errOutput())
	}
}

// Three wrong codes end the login with the cloud's reason.
func TestLoginV2_ThreeWrongCodes(t *testing.T) {
	fake := newV2Fake(t)
	path, _ := writeV2Config(t, fake)
	s := startCLI(t, "login", "-c", path, "-account", "home")
	s.write(testPass + "\n1\n")
	for range 3 {
		s.waitPrompt("Verification code: ")
		s.write("000000\n")
	}
	if code := s.wait(); code != exitError || !strings.Contains(s.errOutput(), "verification code error") {
		t.Fatalf("exit %d\n%s\n%s", code, s.output(), s.errOutput())
	}
	if _, typ, _ := fake.MFACode(testUser); typ != 1 {
		t.Errorf("choice 1 sent the code by %d, want push", typ)
	}
	if n := strings.Count(s.errOutput(), "Verification code: "); n != 3 {
		t.Errorf("asked %d times, want 3", n)
	}
}

func TestLoginV2_Usage(t *testing.T) {
	fake := newV2Fake(t)
	path, _ := writeV2Config(t, fake)
	for _, args := range [][]string{
		{"-mfa-type", "email"},
		{"-account", "home", "-mfa-type", "sms"},
		{"-code", "123456"},
	} {
		if code, _, errOut := runCLI(t, testPass+"\n", append([]string{"login", "-c", path}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d (%s)", args, code, errOut)
		}
	}
	// A V1 account with 2FA on is told which change to make.
	v1 := newFake(t)
	v1.Require2FA(testUser, true)
	v1path, _ := writeConfig(t, v1, false)
	if code, _, errOut := runCLI(t, testPass+"\n", "login", "-c", v1path); code != exitError || !strings.Contains(errOut, "set api: v2") {
		t.Errorf("V1 with 2FA: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, testPass+"\n", "login", "-c", v1path, "-account", "home", "-mfa-type", "push"); code != exitUsage ||
		!strings.Contains(errOut, "api: v2") {
		t.Errorf("-mfa-type on a V1 account: exit %d, %s", code, errOut)
	}
}

// cliSession is the CLI running in-process with a stdin the test writes
// to as prompts appear.
type cliSession struct {
	t       *testing.T
	stdin   *io.PipeWriter
	mu      sync.Mutex
	out     bytes.Buffer
	errOut  bytes.Buffer
	done    chan int
	waitPos int
}

func startCLI(t *testing.T, args ...string) *cliSession {
	t.Helper()
	r, w := io.Pipe()
	s := &cliSession{t: t, stdin: w, done: make(chan int, 1)}
	go func() {
		s.done <- run(context.Background(), args, r, lockedWriter{s, &s.out}, lockedWriter{s, &s.errOut})
		_ = r.Close()
	}()
	t.Cleanup(func() { _ = w.Close() })
	return s
}

type lockedWriter struct {
	s *cliSession
	b *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.b.Write(p)
}

func (s *cliSession) write(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, text); err != nil {
		s.t.Fatalf("write %q: %v", text, err)
	}
}

func (s *cliSession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *cliSession) errOutput() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errOut.String()
}

// waitPrompt waits until stderr, where the prompts go, holds text after
// what earlier waits consumed, and consumes up to its end.
func (s *cliSession) waitPrompt(text string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := s.errOutput()
		if i := strings.Index(out[s.waitPos:], text); i >= 0 {
			s.waitPos += i + len(text)
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q on stderr:\n%s\nstdout:\n%s", text, out, s.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *cliSession) wait() int {
	s.t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(10 * time.Second):
		s.t.Fatalf("the CLI did not end:\n%s", s.output())
		return -1
	}
}
