package main

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// tuyaAuthorizeCmd authorises a Tuya account configured with auth: code:
// it prints what the user must do, takes the code (typed in, or caught on a
// 127.0.0.1 redirect listener), exchanges it and stores the tokens.
func tuyaAuthorizeCmd(ctx context.Context, e env) int {
	fs := newFlags("tuya-authorize", e)
	path := configFlag(fs)
	account := fs.String("account", "", "the Tuya account to authorise (default: the only one with auth: code)")
	listen := fs.String("listen", "127.0.0.1:0", "address of the local redirect listener (\"off\" to only accept a typed code)")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the code")
	o, exit, ok := openAccounts(e, fs, path)
	if !ok {
		return exit
	}
	var acct *providers.Account
	for _, a := range o.accounts {
		if a.Authorize == nil || (*account != "" && a.Provider.Account() != *account) {
			continue
		}
		if acct != nil {
			fmt.Fprintln(e.stderr, "kasa2mqtt: several Tuya accounts use auth: code; choose one with -account")
			return exitUsage
		}
		acct = a
	}
	if acct == nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: no Tuya account with auth: code%s in %s\n", map[bool]string{true: " named " + *account, false: ""}[*account != ""], *path)
		return exitUsage
	}
	auth := acct.Authorize

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	codes := make(chan string, 2)
	redirect := ""
	if *listen != "off" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(e.stderr, "kasa2mqtt: redirect listener on %s: %v (use -listen off to type the code)\n", *listen, err)
			return exitError
		}
		redirect = "http://" + l.Addr().String() + "/callback"
		srv := &http.Server{Handler: callbackHandler(codes), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
	}
	fmt.Fprintln(e.stdout, auth.Instructions(redirect))
	fmt.Fprint(e.stdout, "Code: ")
	go func() {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "" || err == nil {
			codes <- strings.TrimSpace(line)
		}
	}()

	var code string
	select {
	case code = <-codes:
	case <-ctx.Done():
		fmt.Fprintf(e.stderr, "\nkasa2mqtt: no code received: %v\n", ctx.Err())
		return exitError
	}
	fmt.Fprintln(e.stdout)
	if err := auth.Exchange(ctx, code); err != nil {
		accountError(e, acct.Provider, err)
		return exitError
	}
	fmt.Fprintf(e.stdout, "Authorised. Tokens stored in %s; `kasa2mqtt run` keeps them fresh from now on.\n", auth.TokenPath)
	return exitOK
}

// callbackHandler takes the code from Tuya's redirect (?code=…).
func callbackHandler(codes chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("code")
		if r.URL.Path != "/callback" || code == "" {
			http.Error(w, "kasa2mqtt: expected /callback?code=…", http.StatusBadRequest)
			return
		}
		select {
		case codes <- code:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<p>kasa2mqtt received the authorization code (%s…). You can close this window.</p>", html.EscapeString(code[:min(4, len(code))]))
	})
}
