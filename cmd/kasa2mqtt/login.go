package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// loginCmd asks for the password of each account that logs in with one
// (Kasa), without echo on a terminal, logs in once and stores only the
// tokens in the state dir.
func loginCmd(ctx context.Context, e env) int {
	fs := newFlags("login", e)
	path := configFlag(fs)
	account := fs.String("account", "", "log in to this account only (default: every account)")
	o, code, ok := openAccounts(e, fs, path)
	if !ok {
		return code
	}
	in := bufio.NewReader(e.stdin)
	done := 0
	for _, a := range o.accounts {
		name := a.Provider.Account()
		if a.Login == nil || (*account != "" && name != *account) {
			continue
		}
		fmt.Fprintf(e.stdout, "%s\nPassword: ", a.Login.Prompt)
		pw, err := readPassword(e, in)
		fmt.Fprintln(e.stdout)
		if err != nil {
			fmt.Fprintf(e.stderr, "kasa2mqtt: reading the password: %v\n", err)
			return exitError
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = a.Login.Login(lctx, pw)
		cancel()
		if err != nil {
			accountError(e, a.Provider, err)
			return exitError
		}
		fmt.Fprintf(e.stdout, "Logged in. Tokens stored in %s (the password was not stored).\n", o.cfg.StateDir)
		done++
	}
	if done == 0 {
		fmt.Fprintf(e.stderr, "kasa2mqtt: no matching Kasa account in %s\n", *path)
		return exitUsage
	}
	fmt.Fprintln(e.stdout, "You can now remove the password from the configuration; `kasa2mqtt run` will use the stored tokens.")
	return exitOK
}

// readPassword reads without echo from a terminal, or one line otherwise.
func readPassword(e env, in *bufio.Reader) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return string(b), err
	}
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
