package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitConfig  = 3
	defaultConf = "config.yaml"
)

// env is what every command gets: its arguments, the process streams and
// the HTTP client of the cloud calls.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// httpClient sends every cloud request; nil (what main passes) means
	// the providers' own pooled clients. Tests may set a fake cloud's.
	httpClient *http.Client
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env) int
}

func commands() []command {
	return []command{
		{"run", "run the bridge (the daemon)", runCmd},
		{"devices", "list the devices of every configured account", devicesCmd},
		{providers.LoginCommand, "log in once and store tokens, so the config need not keep the password", loginCmd},
		{providers.AuthorizeCommand, "authorise a Tuya account that uses auth: code, and store its tokens", tuyaAuthorizeCmd},
		{"check-config", "validate the configuration and print it with secrets masked", checkConfigCmd},
		{"demo", "run against a simulated cloud with an embedded broker", demoCmd},
		{"health", "check a running daemon's /healthz (for Docker HEALTHCHECK)", healthCmd},
		{"version", "print the version", versionCmd},
	}
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr})
		}
	}
	fmt.Fprintf(stderr, "kasa2mqtt: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: kasa2mqtt <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `kasa2mqtt <command> -h` for the flags of a command.")
}

// newFlags returns a flag set writing its errors and help to e.stderr.
func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("kasa2mqtt "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses and maps -h and bad flags to an exit code (ok=false).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// loadConfig loads and validates, printing every problem.
func loadConfig(path string, e env) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %s: invalid configuration:\n%v\n", path, err)
		return nil, false
	}
	return cfg, true
}

// configFlag adds -c, the configuration file, to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", defaultConf, "configuration file")
}

// flagsAndConfig parses fs (with -c from configFlag) and loads the
// configuration it names. When ok is false the command returns code.
func flagsAndConfig(e env, fs *flag.FlagSet, path *string) (cfg *config.Config, code int, ok bool) {
	if code, ok := parseFlags(fs, e.args); !ok {
		return nil, code, false
	}
	if cfg, ok = loadConfig(*path, e); !ok {
		return nil, exitConfig, false
	}
	return cfg, exitOK, true
}

// opened is what the account commands (devices, login, tuya-authorize)
// work with.
type opened struct {
	cfg      *config.Config
	log      *zap.Logger // level warn, to stderr
	accounts []*providers.Account
}

// openAccounts is the sequence the account commands share: flags (fs with
// -c from configFlag), configuration, a logger at level warn, and every
// configured account opened through the provider registry (no network
// I/O). When ok is false the command returns code.
func openAccounts(e env, fs *flag.FlagSet, path *string) (o *opened, code int, ok bool) {
	cfg, code, ok := flagsAndConfig(e, fs, path)
	if !ok {
		return nil, code, false
	}
	log, err := logging.SimpleLogger("warn", cfg.Log.Format, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return nil, exitConfig, false
	}
	op, err := daemon.OpenAccounts(cfg, e.httpClient, log, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return nil, exitError, false
	}
	return &opened{cfg: cfg, log: log, accounts: op.Accounts}, exitOK, true
}

// accountError prints an account's error, with what to do about it when
// there is something.
func accountError(e env, p cloud.Provider, err error) {
	fmt.Fprintf(e.stderr, "kasa2mqtt: account %s: %v\n", p.Account(), daemon.Advise(p, err))
}
