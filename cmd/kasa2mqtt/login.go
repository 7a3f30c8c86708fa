package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// loginTimeout bounds each cloud step of a login.
const loginTimeout = 30 * time.Second

// maxCodeTries is how often `login` asks for a code the cloud refuses as
// wrong or expired (for an expired one it requests a new code first).
const maxCodeTries = 3

// loginCmd asks for the password of each account that logs in with one
// (Kasa), without echo on a terminal, logs in once and stores only the
// tokens in the state dir. An account with two-step verification (api: v2)
// then gets a code: interactively (asked how to receive it, then the code),
// or for scripts in two runs: -mfa-type requests the code, the same
// command with -code completes the login. Prompts, the dialogue around
// them and advice go to stderr; stdout gets one line per account, its
// outcome ("Logged in. …", or "Verification code sent to …" when
// -mfa-type only requested the code), for scripts to read.
func loginCmd(ctx context.Context, e env) int {
	fs := newFlags("login", e)
	path := configFlag(fs)
	account := fs.String("account", "", "log in to this account only (default: every account)")
	mfaType := fs.String("mfa-type", "", "two-step verification without prompts: how to receive the code, push or email (needs -account); "+
		"without -code, requests the code and exits")
	code := fs.String("code", "", "two-step verification without prompts: the code received, to complete the login -mfa-type started (needs -account)")
	o, exit, ok := openAccounts(e, fs, path)
	if !ok {
		return exit
	}
	scripted := *mfaType != "" || *code != ""
	if scripted && *account == "" {
		fmt.Fprintln(e.stderr, "kasa2mqtt login: -mfa-type and -code need -account")
		return exitUsage
	}
	if *mfaType != "" && *mfaType != providers.CodeByPush && *mfaType != providers.CodeByEmail {
		fmt.Fprintf(e.stderr, "kasa2mqtt login: -mfa-type %q: want %s or %s\n", *mfaType, providers.CodeByPush, providers.CodeByEmail)
		return exitUsage
	}
	l := &loginRun{ctx: ctx, e: e, in: bufio.NewReader(e.stdin), stateDir: o.cfg.StateDir, mfaType: *mfaType, code: strings.TrimSpace(*code)}
	done := 0
	for _, a := range o.accounts {
		name := a.Provider.Account()
		if a.Login == nil || (*account != "" && name != *account) {
			continue
		}
		if exit := l.account(a); exit != exitOK {
			return exit
		}
		done++
	}
	if done == 0 {
		fmt.Fprintf(e.stderr, "kasa2mqtt: no matching Kasa account in %s\n", *path)
		return exitUsage
	}
	if l.codeSent {
		return exitOK
	}
	fmt.Fprintln(e.stderr, "You can now remove the password from the configuration; `kasa2mqtt run` will use the stored tokens.")
	return exitOK
}

// loginRun is one `kasa2mqtt login`: its streams and flags.
type loginRun struct {
	ctx      context.Context
	e        env
	in       *bufio.Reader
	stateDir string
	mfaType  string // -mfa-type
	code     string // -code
	codeSent bool   // a scripted run requested a code and stops there
}

// account logs one account in and returns the exit code.
func (l *loginRun) account(a *providers.Account) int {
	fmt.Fprintf(l.e.stderr, "%s\nPassword: ", a.Login.Prompt)
	pw, err := readPassword(l.e, l.in)
	fmt.Fprintln(l.e.stderr)
	if err != nil {
		fmt.Fprintf(l.e.stderr, "kasa2mqtt: reading the password: %v\n", err)
		return exitError
	}
	c := a.Login.Code
	if (l.mfaType != "" || l.code != "") && c == nil {
		fmt.Fprintf(l.e.stderr, "kasa2mqtt: account %s: -mfa-type and -code are for accounts with api: v2\n", a.Provider.Account())
		return exitUsage
	}
	// A scripted second run completes the verification the first started.
	if l.code != "" && c.Pending() {
		return l.complete(a, l.mfaType, l.code)
	}
	err = l.step(func(ctx context.Context) error { return a.Login.Login(ctx, pw) })
	if err == nil {
		return l.loggedIn()
	}
	methods, needed := []string(nil), false
	if c != nil {
		methods, needed = c.Needed(err)
	}
	if !needed {
		accountError(l.e, a.Provider, err)
		return exitError
	}
	if l.code != "" { // no verification was stored: this login started one
		return l.complete(a, l.mfaType, l.code)
	}
	method := l.mfaType
	if method == "" {
		if method, err = l.chooseMethod(methods); err != nil {
			fmt.Fprintf(l.e.stderr, "kasa2mqtt: %v\n", err)
			return exitError
		}
	}
	var where string // where the cloud sent the last code
	request := func() error {
		return l.step(func(ctx context.Context) (err error) {
			where, err = c.Request(ctx, pw, method)
			return err
		})
	}
	if err := request(); err != nil {
		accountError(l.e, a.Provider, err)
		return exitError
	}
	if l.mfaType != "" {
		fmt.Fprintf(l.e.stdout, "Verification code sent to %s; finish with the same command and -code CODE.\n", where)
		l.codeSent = true
		return exitOK
	}
	fmt.Fprintf(l.e.stderr, "Two-step verification: a code was sent to %s.\n", where)
	for try := 1; ; try++ {
		fmt.Fprint(l.e.stderr, "Verification code: ")
		code, err := readLine(l.in)
		if err != nil {
			fmt.Fprintf(l.e.stderr, "\nkasa2mqtt: reading the code: %v\n", err)
			return exitError
		}
		code = strings.TrimSpace(code)
		err = l.step(func(ctx context.Context) error { return c.Complete(ctx, method, code) })
		if err == nil {
			return l.loggedIn()
		}
		if !c.WrongCode(err) || try == maxCodeTries {
			accountError(l.e, a.Provider, err)
			return exitError
		}
		if c.Expired != nil && c.Expired(err) {
			// Typing it again cannot help: ask the cloud for a new one.
			if err := request(); err != nil {
				accountError(l.e, a.Provider, err)
				return exitError
			}
			fmt.Fprintf(l.e.stderr, "That code is no longer valid; a new one was sent to %s.\n", where)
			continue
		}
		fmt.Fprintf(l.e.stderr, "The cloud did not accept that code (%v). Try again.\n", err)
	}
}

// complete finishes a verification with a code from -code.
func (l *loginRun) complete(a *providers.Account, method, code string) int {
	if err := l.step(func(ctx context.Context) error { return a.Login.Code.Complete(ctx, method, code) }); err != nil {
		accountError(l.e, a.Provider, err)
		return exitError
	}
	return l.loggedIn()
}

func (l *loginRun) loggedIn() int {
	fmt.Fprintf(l.e.stdout, "Logged in. Tokens stored in %s (the password was not stored).\n", l.stateDir)
	return exitOK
}

// step runs one cloud step of the login under its own timeout.
func (l *loginRun) step(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(l.ctx, loginTimeout)
	defer cancel()
	return fn(ctx)
}

// chooseMethod asks how to receive the code when the cloud offers more
// than one way.
func (l *loginRun) chooseMethod(methods []string) (string, error) {
	if len(methods) == 1 {
		return methods[0], nil
	}
	describe := map[string]string{
		providers.CodeByPush:  "a notification in the Kasa app",
		providers.CodeByEmail: "an e-mail",
	}
	fmt.Fprintln(l.e.stderr, "Two-step verification: how do you want to receive the code?")
	for i, m := range methods {
		fmt.Fprintf(l.e.stderr, "  %d) %s (%s)\n", i+1, describe[m], m)
	}
	for range maxCodeTries {
		fmt.Fprintf(l.e.stderr, "Choice [1-%d]: ", len(methods))
		answer, err := readLine(l.in)
		if err != nil {
			return "", fmt.Errorf("reading the choice: %w", err)
		}
		for i, m := range methods {
			if answer == fmt.Sprint(i+1) || strings.EqualFold(answer, m) {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("no valid choice among %s", strings.Join(methods, ", "))
}

// readPassword reads without echo from a terminal, or one line otherwise.
func readPassword(e env, in *bufio.Reader) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return string(b), err
	}
	return readLine(in)
}

// readLine reads one line, without its line ending; the last line may
// lack one.
func readLine(in *bufio.Reader) (string, error) {
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
