package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/kasa2mqtt/kasa2mqtt/internal/version"
)

func versionCmd(_ context.Context, e env) int {
	fs := newFlags("version", e)
	if code, ok := parseFlags(fs, e.args); !ok {
		return code
	}
	commit := version.Commit
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(e.stdout, "kasa2mqtt %s (commit %s, %s)\n", version.Version, commit, runtime.Version())
	return exitOK
}
