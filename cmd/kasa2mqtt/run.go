package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

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
	levels, err := daemon.LevelsFromConfig(cfg.Log)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitConfig
	}
	log, err := daemon.NewLogger(levels, cfg.Log.Format, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	m := &daemon.Main{Config: cfg, Logger: log, Levels: levels}
	err = m.Run(ctx)
	switch {
	case errors.Is(err, daemon.ErrRestart):
		_ = log.Sync()
		return restartSelf(e)
	case err != nil:
		log.Error("kasa2mqtt stopped with an error", zap.Error(err))
		return exitError
	}
	return exitOK
}

// restartSelf replaces the process with a fresh copy of itself (same pid,
// so systemd's Type=notify tracking carries on), as asked over MQTT.
func restartSelf(e env) int {
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(e.stderr, "kasa2mqtt: restart failed: %v\n", err)
	return exitError
}
