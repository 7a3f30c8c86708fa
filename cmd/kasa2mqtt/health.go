package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/ops"
)

// healthListenEnv names the variable holding the daemon's HTTP listen
// address, from which `health` derives its default URL.
const healthListenEnv = "KASA2MQTT_HTTP_LISTEN"

// defaultHealthListen is the address checked when healthListenEnv is unset.
const defaultHealthListen = ops.DefaultListen

// healthCmd checks a running daemon's /healthz (or /readyz) and exits 0 on
// 200, 1 otherwise: a Docker HEALTHCHECK or a monitoring probe. It never
// exits 2, which Docker reserves: usage errors exit 1 too. With
// KASA2MQTT_HTTP_LISTEN set but empty (the endpoint turned off) and no
// -url, there is nothing to check: it says so and exits 0.
func healthCmd(ctx context.Context, e env) int {
	code := healthCheck(ctx, e)
	if code == exitUsage {
		code = exitError
	}
	return code
}

func healthCheck(ctx context.Context, e env) int {
	fs := newFlags("health", e)
	target := fs.String("url", healthURL(os.Getenv(healthListenEnv)),
		"URL to check (default from $"+healthListenEnv+", else "+defaultHealthListen+")")
	ready := fs.Bool("ready", false, "check readiness: a URL path of /healthz becomes /readyz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if code, ok := parseFlags(fs, e.args); !ok {
		return code
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
	if v, ok := os.LookupEnv(healthListenEnv); ok && strings.TrimSpace(v) == "" && !urlSet {
		fmt.Fprintln(e.stdout, "the operations endpoint is off ("+healthListenEnv+" is empty): nothing to check")
		return exitOK
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(e.stderr, "kasa2mqtt health: -url %q: want an http:// or https:// URL\n", *target)
		return exitUsage
	}
	if *ready && (u.Path == "" || u.Path == "/" || u.Path == "/healthz") {
		u.Path = "/readyz"
	}
	if *timeout <= 0 {
		fmt.Fprintln(e.stderr, "kasa2mqtt health: -timeout must be positive")
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt health: %v\n", err)
		return exitUsage
	}
	// A probe talks to the daemon directly: no proxy, no connection reuse.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt health: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	reason := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		if reason == "" {
			reason = resp.Status
		}
		fmt.Fprintf(e.stderr, "kasa2mqtt health: %s: %d: %s\n", u.Redacted(), resp.StatusCode, reason)
		return exitError
	}
	fmt.Fprintln(e.stdout, reason)
	return exitOK
}

// healthURL returns the /healthz URL of a daemon listening on listen. An
// empty listen means defaultHealthListen; an unspecified host (":9792",
// "0.0.0.0:9792", "[::]:9792") means the loopback address 127.0.0.1.
func healthURL(listen string) string {
	listen = strings.TrimSpace(listen)
	if listen == "" {
		listen = defaultHealthListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/healthz"
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
