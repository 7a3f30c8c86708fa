package main

import (
	"context"
	"fmt"
)

func checkConfigCmd(_ context.Context, e env) int {
	fs := newFlags("check-config", e)
	path := fs.String("c", defaultConf, "configuration file")
	quiet := fs.Bool("q", false, "print nothing when the configuration is valid")
	if code, ok := parseFlags(fs, e.args); !ok {
		return code
	}
	cfg, ok := loadConfig(*path, e)
	if !ok {
		return exitConfig
	}
	if *quiet {
		return exitOK
	}
	out, err := cfg.YAML()
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitError
	}
	fmt.Fprintf(e.stdout, "# %s is valid. Effective configuration (secrets masked):\n%s", *path, out)
	return exitOK
}
