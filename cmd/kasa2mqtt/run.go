package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
)

func runCmd(ctx context.Context, e env) int {
	fs := newFlags("run", e)
	cfg, code, ok := flagsAndConfig(e, fs, configFlag(fs))
	if !ok {
		return code
	}
	levels, err := logging.LevelsFrom(cfg.Log.Level, cfg.Log.Levels)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitConfig
	}
	log, err := logging.NewLogger(levels, cfg.Log.Format, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt: %v\n", err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	defer daemon.TuneGC()()
	m := &daemon.Main{Config: cfg, Logger: log, Levels: levels, HTTPClient: e.httpClient}
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
