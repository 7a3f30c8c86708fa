package main

import (
	"context"
	"fmt"
	"time"
)

func checkConfigCmd(_ context.Context, e env) int {
	fs := newFlags("check-config", e)
	path := configFlag(fs)
	quiet := fs.Bool("q", false, "print nothing when the configuration is valid")
	cfg, code, ok := flagsAndConfig(e, fs, path)
	if !ok {
		return code
	}
	if *quiet {
		return exitOK
	}
	out, err := cfg.YAML()
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitError
	}
	fmt.Fprintf(e.stdout, "# %s is valid.\n", *path)
	budgetNotes(e.stdout, cfg, time.Now())
	fmt.Fprintf(e.stdout, "# Effective configuration (secrets masked):\n%s", out)
	return exitOK
}
