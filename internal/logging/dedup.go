package logging

import (
	"container/list"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults of the deduplication of repeated warnings and errors.
const (
	dedupWindow  = time.Minute
	dedupMaxKeys = 1024
)

// dedupCore rate-limits repeated identical warnings and errors: the first
// one of a kind is written, identical ones (same logger name, level,
// message, context fields and fields) within the window after it are only
// counted, and the first identical one after the window is written with
// repeated=<count suppressed> and starts a new window. Sync writes a line
// for every pending count (with repeated and last_seen), and a kind evicted
// to make room for a new one is flushed likewise, so no count is lost.
//
// Debug and Info entries, and DPanic and above (which may end the process),
// pass through untouched. It wraps the core that writes, inside the level
// filtering (levelCore), so that only entries that are to be written are
// counted. Every core derived by With shares the state of its parent.
type dedupCore struct {
	inner  zapcore.Core
	keyEnc zapcore.Encoder // encodes the fields of the key; holds the context fields
	state  *dedupState
}

// dedupState is shared by a dedupCore and the cores derived from it.
type dedupState struct {
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element // of *dedupRecord
	order *list.List               // of *dedupRecord, most recently seen first
}

// dedupRecord is one kind of entry.
type dedupRecord struct {
	key        string
	core       zapcore.Core    // the inner core (with context) that last wrote it
	ent        zapcore.Entry   // level, logger name and message
	fields     []zapcore.Field // a copy of the fields of the first one
	written    time.Time       // when last written: the start of the window
	lastSeen   time.Time
	suppressed int // since the last line written
}

// newDedupCore wraps inner; window is the suppression window, maxKeys the
// number of kinds remembered (the least recently seen is evicted), now the
// clock (time.Now when nil).
func newDedupCore(inner zapcore.Core, window time.Duration, maxKeys int, now func() time.Time) *dedupCore {
	if now == nil {
		now = time.Now
	}
	return &dedupCore{
		inner:  inner,
		keyEnc: zapcore.NewJSONEncoder(zapcore.EncoderConfig{SkipLineEnding: true}),
		state: &dedupState{
			window:  window,
			maxKeys: max(maxKeys, 1),
			now:     now,
			keys:    map[string]*list.Element{},
			order:   list.New(),
		},
	}
}

// dedupable reports whether entries of this level are deduplicated.
func dedupable(lvl zapcore.Level) bool {
	return lvl >= zapcore.WarnLevel && lvl <= zapcore.ErrorLevel
}

func (c *dedupCore) Enabled(lvl zapcore.Level) bool { return c.inner.Enabled(lvl) }

func (c *dedupCore) With(fields []zapcore.Field) zapcore.Core {
	enc := c.keyEnc.Clone()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return &dedupCore{inner: c.inner.With(fields), keyEnc: enc, state: c.state}
}

func (c *dedupCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !dedupable(ent.Level) {
		return c.inner.Check(ent, ce)
	}
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// key identifies the kind of an entry; ok is false when its fields cannot
// be encoded (the entry is then written as is).
func (c *dedupCore) key(ent zapcore.Entry, fields []zapcore.Field) (string, bool) {
	buf, err := c.keyEnc.EncodeEntry(zapcore.Entry{}, fields)
	if err != nil {
		return "", false
	}
	defer buf.Free()
	var b strings.Builder
	b.Grow(len(ent.LoggerName) + len(ent.Message) + buf.Len() + 16)
	b.WriteString(ent.LoggerName)
	b.WriteByte(0)
	b.WriteString(ent.Level.String())
	b.WriteByte(0)
	b.WriteString(ent.Message)
	b.WriteByte(0)
	b.Write(buf.Bytes())
	return b.String(), true
}

func (c *dedupCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if !dedupable(ent.Level) {
		return c.inner.Write(ent, fields)
	}
	key, ok := c.key(ent, fields)
	if !ok {
		return c.inner.Write(ent, fields)
	}
	s := c.state
	now := s.now()

	s.mu.Lock()
	if el, ok := s.keys[key]; ok {
		r := el.Value.(*dedupRecord)
		s.order.MoveToFront(el)
		r.lastSeen = now
		if now.Sub(r.written) < s.window {
			r.suppressed++
			s.mu.Unlock()
			return nil
		}
		n := r.suppressed
		r.suppressed = 0
		r.written = now
		r.core = c.inner
		s.mu.Unlock()
		if n > 0 {
			fields = append(fields[:len(fields):len(fields)], zap.Int("repeated", n))
		}
		return c.inner.Write(ent, fields)
	}
	var evicted *dedupRecord
	if s.order.Len() >= s.maxKeys {
		evicted = s.order.Remove(s.order.Back()).(*dedupRecord)
		delete(s.keys, evicted.key)
	}
	s.keys[key] = s.order.PushFront(&dedupRecord{
		key:      key,
		core:     c.inner,
		ent:      zapcore.Entry{Level: ent.Level, LoggerName: ent.LoggerName, Message: ent.Message},
		fields:   slices.Clone(fields),
		written:  now,
		lastSeen: now,
	})
	s.mu.Unlock()

	var err error
	if evicted != nil && evicted.suppressed > 0 {
		err = evicted.flush(now, evicted.suppressed)
	}
	return errors.Join(err, c.inner.Write(ent, fields))
}

// flush writes the line reporting n suppressed entries of r's kind.
func (r *dedupRecord) flush(now time.Time, n int) error {
	ent := r.ent
	ent.Time = now
	fields := append(slices.Clip(r.fields), zap.Int("repeated", n), zap.Time("last_seen", r.lastSeen))
	return r.core.Write(ent, fields)
}

// Sync writes a line for every pending count, oldest first, then syncs
// the inner core.
func (c *dedupCore) Sync() error {
	s := c.state
	type pending struct {
		r *dedupRecord
		n int
	}
	var todo []pending
	s.mu.Lock()
	for el := s.order.Back(); el != nil; el = el.Prev() {
		r := el.Value.(*dedupRecord)
		if r.suppressed > 0 {
			// A copy: the record may change once the lock is released.
			cp := *r
			todo = append(todo, pending{&cp, r.suppressed})
			r.suppressed = 0
		}
	}
	s.mu.Unlock()

	var errs []error
	now := s.now()
	for _, p := range todo {
		errs = append(errs, p.r.flush(now, p.n))
	}
	errs = append(errs, c.inner.Sync())
	return errors.Join(errs...)
}
