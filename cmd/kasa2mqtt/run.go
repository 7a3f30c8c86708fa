package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
)

func runCmd(ctx context.Context, e env) int {
	fs := newFlags("run", e)
	path := fs.String("c", defaultConf, "configuration file")
	if code, ok := parseFlags(fs, e.args); !ok {
		return code
	}
	cfg, ok := loadConfig(*path, e)
	if !ok {
		return exitConfig
	}
	log, err := daemon.NewLogger(cfg.Log.Level, cfg.Log.Format, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	m := &daemon.Main{Config: cfg, Logger: log}
	if err := m.Run(ctx); err != nil {
		log.Error("kasa2mqtt stopped with an error", zap.Error(err))
		return exitError
	}
	return exitOK
}
