package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the one logger of the process, format console|json,
// written to w (os.Stderr when nil), filtered by levels.
func NewLogger(levels *Levels, format string, w io.Writer) (*zap.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "time"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "", "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("log format %q: must be console or json", format)
	}
	// The inner core lets everything through; levelCore decides. Repeated
	// identical warnings and errors are rate-limited (logdedup.go) after
	// the level filtering, so only entries to be written are counted.
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zapcore.DebugLevel)
	dedup := newDedupCore(core, dedupWindow, dedupMaxKeys, nil)
	return zap.New(levelCore{Core: dedup, levels: levels}), nil
}

// SimpleLogger is NewLogger with one level, for the short-lived commands.
func SimpleLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	levels, err := NewLevels(level)
	if err != nil {
		return nil, err
	}
	return NewLogger(levels, format, w)
}
