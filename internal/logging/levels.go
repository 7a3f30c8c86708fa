package logging

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Levels holds the process log level and per-component overrides. Safe for
// concurrent use; changes apply at once to every logger built from it.
type Levels struct {
	base zap.AtomicLevel

	mu        sync.RWMutex
	overrides map[string]zapcore.Level
}

// NewLevels parses the base level ("debug", "info", "warn", "error").
func NewLevels(level string) (*Levels, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return &Levels{base: zap.NewAtomicLevelAt(lvl), overrides: map[string]zapcore.Level{}}, nil
}

// Set changes the level of one component, or of everything when component
// is "" (which also drops the per-component overrides).
func (l *Levels) Set(component, level string) error {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil || lvl > zapcore.ErrorLevel {
		return fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	if component == "" {
		l.mu.Lock()
		l.overrides = map[string]zapcore.Level{}
		l.mu.Unlock()
		l.base.SetLevel(lvl)
		return nil
	}
	if comps := Components(); !slices.Contains(comps, component) {
		return fmt.Errorf("log component %q: want one of %s", component, strings.Join(comps, ", "))
	}
	l.mu.Lock()
	l.overrides[component] = lvl
	l.mu.Unlock()
	return nil
}

// String describes the levels, e.g. "info" or "info (kasa=debug)".
func (l *Levels) String() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.base.Level().String()
	if len(l.overrides) == 0 {
		return s
	}
	var parts []string
	for c, lvl := range l.overrides {
		parts = append(parts, c+"="+lvl.String())
	}
	slices.Sort(parts)
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// levelFor is the level in force for a logger name ("bridge.mqtt" →
// the override of "mqtt", then of "bridge", then the base level).
func (l *Levels) levelFor(name string) zapcore.Level {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.overrides) > 0 && name != "" {
		parts := strings.Split(name, ".")
		for i := len(parts) - 1; i >= 0; i-- {
			if lvl, ok := l.overrides[parts[i]]; ok {
				return lvl
			}
		}
	}
	return l.base.Level()
}

// minLevel is the most verbose level in force anywhere.
func (l *Levels) minLevel() zapcore.Level {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m := l.base.Level()
	for _, lvl := range l.overrides {
		m = min(m, lvl)
	}
	return m
}

// levelCore filters entries by the level of their logger's component.
type levelCore struct {
	zapcore.Core
	levels *Levels
}

func (c levelCore) Enabled(lvl zapcore.Level) bool { return lvl >= c.levels.minLevel() }

func (c levelCore) With(f []zapcore.Field) zapcore.Core {
	return levelCore{Core: c.Core.With(f), levels: c.levels}
}

func (c levelCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level < c.levels.levelFor(e.LoggerName) {
		return ce
	}
	return c.Core.Check(e, ce)
}

// Core wraps c so that it logs by these levels (for tests that build their
// own cores; NewLogger does this itself).
func (l *Levels) Core(c zapcore.Core) zapcore.Core { return levelCore{Core: c, levels: l} }

// LevelsFrom builds the Levels of the log section: level for everything,
// then each component's own level (log.level and log.levels).
func LevelsFrom(level string, components map[string]string) (*Levels, error) {
	levels, err := NewLevels(level)
	if err != nil {
		return nil, err
	}
	for _, c := range slices.Sorted(maps.Keys(components)) {
		if err := levels.Set(c, components[c]); err != nil {
			return nil, err
		}
	}
	return levels, nil
}
