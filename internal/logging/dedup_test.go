package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// dedupObserved is a logger like NewLogger's, but writing to an observer,
// with a fake clock and maxKeys kinds at most.
func dedupObserved(t *testing.T, levels *Levels, maxKeys int) (*zap.Logger, *observer.ObservedLogs, *fakeClock, *dedupCore) {
	t.Helper()
	if levels == nil {
		var err error
		if levels, err = NewLevels("debug"); err != nil {
			t.Fatal(err)
		}
	}
	obs, logs := observer.New(zapcore.DebugLevel)
	clock := newFakeClock()
	dc := newDedupCore(obs, time.Minute, maxKeys, clock.Now)
	return zap.New(levels.Core(dc)), logs, clock, dc
}

func repeatedOf(t *testing.T, e observer.LoggedEntry) (int64, bool) {
	t.Helper()
	v, ok := e.ContextMap()["repeated"]
	if !ok {
		return 0, false
	}
	n, isInt := v.(int64)
	if !isInt {
		t.Fatalf("repeated = %#v, want an int64", v)
	}
	return n, true
}

func TestDedupRepeatedWarnings(t *testing.T) {
	log, logs, clock, _ := dedupObserved(t, nil, dedupMaxKeys)
	for range 100 {
		log.Warn("device unreachable", zap.String("device", "lamp"))
		clock.Advance(100 * time.Millisecond) // 10 s in all: within the window
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("100 identical warnings: %d lines, want 1", n)
	}
	if _, ok := repeatedOf(t, logs.All()[0]); ok {
		t.Errorf("first line has a repeated field: %v", logs.All()[0].ContextMap())
	}

	clock.Advance(time.Minute)
	log.Warn("device unreachable", zap.String("device", "lamp"))
	all := logs.TakeAll()
	if len(all) != 2 {
		t.Fatalf("after the window: %d lines, want 2", len(all))
	}
	if n, ok := repeatedOf(t, all[1]); !ok || n != 99 {
		t.Errorf("after the window: repeated = %d (present %v), want 99", n, ok)
	}
	if got := all[1].ContextMap()["device"]; got != "lamp" {
		t.Errorf("after the window: device = %v, want lamp", got)
	}

	// A new window started: one more within it is counted...
	log.Warn("device unreachable", zap.String("device", "lamp"))
	if logs.Len() != 0 {
		t.Fatalf("within the new window: %d lines, want 0", logs.Len())
	}
	clock.Advance(time.Minute)
	log.Warn("device unreachable", zap.String("device", "lamp"))
	all = logs.TakeAll()
	if len(all) != 1 {
		t.Fatalf("after the second window: %d lines, want 1", len(all))
	}
	if n, ok := repeatedOf(t, all[0]); !ok || n != 1 {
		t.Errorf("after the second window: repeated = %d (present %v), want 1", n, ok)
	}

	// ...and with nothing suppressed the next one has no count.
	clock.Advance(time.Minute)
	log.Warn("device unreachable", zap.String("device", "lamp"))
	all = logs.TakeAll()
	if len(all) != 1 {
		t.Fatalf("after a quiet window: %d lines, want 1", len(all))
	}
	if _, ok := repeatedOf(t, all[0]); ok {
		t.Errorf("after a quiet window: repeated present: %v", all[0].ContextMap())
	}
}

func TestDedupDistinctEntries(t *testing.T) {
	log, logs, _, _ := dedupObserved(t, nil, dedupMaxKeys)
	for range 10 {
		log.Warn("poll failed", zap.String("device", "a"))
		log.Warn("poll failed", zap.String("device", "b"))
		log.Warn("poll failed", zap.String("device", "a"), zap.Int("attempt", 2))
		log.Error("poll failed", zap.String("device", "a"))
		log.Named("kasa").Warn("poll failed", zap.String("device", "a"))
		log.Warn("poll failed again", zap.String("device", "a"))
		log.Warn("poll failed", zap.Error(fmt.Errorf("timeout")))
		log.Warn("poll failed", zap.Error(fmt.Errorf("refused")))
	}
	if n := logs.Len(); n != 8 {
		for _, e := range logs.All() {
			t.Log(e.LoggerName, e.Level, e.Message, e.ContextMap())
		}
		t.Fatalf("8 kinds × 10: %d lines, want 8", n)
	}
}

func TestDedupInfoNeverSuppressed(t *testing.T) {
	log, logs, _, _ := dedupObserved(t, nil, dedupMaxKeys)
	for range 50 {
		log.Info("state changed", zap.String("device", "lamp"))
		log.Debug("polled", zap.String("device", "lamp"))
	}
	if n := logs.Len(); n != 100 {
		t.Fatalf("50 info + 50 debug: %d lines, want 100", n)
	}
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != 100 {
		t.Fatalf("after Sync: %d lines, want 100", n)
	}
}

func TestDedupHigherLevelsPassThrough(t *testing.T) {
	log, logs, _, _ := dedupObserved(t, nil, dedupMaxKeys)
	// A production logger: DPanic does not panic.
	log.DPanic("bad state")
	log.DPanic("bad state")
	if n := logs.Len(); n != 2 {
		t.Fatalf("2 DPanic: %d lines, want 2", n)
	}
}

func TestDedupSyncFlushes(t *testing.T) {
	log, logs, clock, _ := dedupObserved(t, nil, dedupMaxKeys)
	for range 5 {
		log.Warn("publish failed", zap.String("topic", "t"))
	}
	seen := clock.Now()
	clock.Advance(10 * time.Second)
	log.Warn("other", zap.Int("n", 1)) // nothing suppressed: no flush line
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	all := logs.TakeAll()
	if len(all) != 3 {
		t.Fatalf("5 warnings, 1 other, Sync: %d lines, want 3", len(all))
	}
	f := all[2]
	if f.Message != "publish failed" || f.Level != zapcore.WarnLevel {
		t.Errorf("flush line: %v %q, want warn \"publish failed\"", f.Level, f.Message)
	}
	if n, ok := repeatedOf(t, f); !ok || n != 4 {
		t.Errorf("flush line: repeated = %d (present %v), want 4", n, ok)
	}
	m := f.ContextMap()
	if m["topic"] != "t" {
		t.Errorf("flush line: topic = %v, want t", m["topic"])
	}
	if ls, ok := m["last_seen"].(time.Time); !ok || !ls.Equal(seen) {
		t.Errorf("flush line: last_seen = %v, want %v", m["last_seen"], seen)
	}

	// Flushed once only; and the count was reported, so the next one after
	// the window has none.
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != 0 {
		t.Fatalf("second Sync: %d lines, want 0", n)
	}
	clock.Advance(time.Minute)
	log.Warn("publish failed", zap.String("topic", "t"))
	all = logs.TakeAll()
	if len(all) != 1 {
		t.Fatalf("after the window: %d lines, want 1", len(all))
	}
	if _, ok := repeatedOf(t, all[0]); ok {
		t.Errorf("after Sync and the window: repeated present: %v", all[0].ContextMap())
	}
}

func TestDedupWith(t *testing.T) {
	log, logs, clock, _ := dedupObserved(t, nil, dedupMaxKeys)
	a := log.Named("kasa").With(zap.String("device", "a"))
	b := log.Named("kasa").With(zap.String("device", "b"))
	for range 3 {
		a.Warn("unreachable")
		b.Warn("unreachable")
		a.With(zap.Int("child", 1)).Warn("unreachable")
	}
	all := logs.TakeAll()
	if len(all) != 3 {
		t.Fatalf("3 contexts × 3: %d lines, want 3", len(all))
	}
	for i, want := range []string{"a", "b", "a"} {
		if got := all[i].ContextMap()["device"]; got != want {
			t.Errorf("line %d: device = %v, want %s", i, got, want)
		}
	}
	clock.Advance(time.Minute)
	b.Warn("unreachable")
	all = logs.TakeAll()
	if n, ok := repeatedOf(t, all[0]); len(all) != 1 || !ok || n != 2 || all[0].ContextMap()["device"] != "b" {
		t.Fatalf("b after the window: %v, want one line with device=b repeated=2", all)
	}
	// Sync flushes through the core of each context: the lines keep it.
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	all = logs.TakeAll()
	if len(all) != 2 {
		t.Fatalf("Sync: %d lines, want 2", len(all))
	}
	for _, e := range all {
		m := e.ContextMap()
		if e.LoggerName != "kasa" || m["device"] != "a" || m["repeated"] != int64(2) {
			t.Errorf("flush line: %s %v, want kasa device=a repeated=2", e.LoggerName, m)
		}
	}
	if all[1].ContextMap()["child"] != int64(1) {
		t.Errorf("flush line of the child: %v, want child=1", all[1].ContextMap())
	}
}

func TestDedupEviction(t *testing.T) {
	log, logs, _, dc := dedupObserved(t, nil, 3)
	log.Warn("k1")
	log.Warn("k1") // suppressed, pending
	log.Warn("k2")
	log.Warn("k3")
	if n := logs.Len(); n != 3 {
		t.Fatalf("k1 k1 k2 k3: %d lines, want 3", n)
	}
	log.Warn("k4") // evicts k1, flushing its count
	all := logs.TakeAll()
	if len(all) != 5 {
		t.Fatalf("after k4: %d lines, want 5", len(all))
	}
	if e := all[3]; e.Message != "k1" {
		t.Errorf("eviction line: %q, want k1", e.Message)
	} else if n, ok := repeatedOf(t, e); !ok || n != 1 {
		t.Errorf("eviction line: repeated = %d (present %v), want 1", n, ok)
	}
	if all[4].Message != "k4" {
		t.Errorf("line 5: %q, want k4", all[4].Message)
	}
	// k1 is forgotten: written again, with no count.
	log.Warn("k1")
	all = logs.TakeAll()
	if len(all) != 1 || all[0].Message != "k1" {
		t.Fatalf("k1 again: %v, want one k1 line", all)
	}
	if _, ok := repeatedOf(t, all[0]); ok {
		t.Errorf("k1 again: repeated present")
	}

	// The bound holds.
	for i := range 100 {
		log.Warn("distinct", zap.Int("i", i))
	}
	dc.state.mu.Lock()
	nKeys, nOrder := len(dc.state.keys), dc.state.order.Len()
	dc.state.mu.Unlock()
	if nKeys != 3 || nOrder != 3 {
		t.Errorf("after 100 distinct: %d keys, %d in order, want 3", nKeys, nOrder)
	}

	// The least recently seen goes, not the first inserted.
	logs.TakeAll()
	log.Warn("x1")
	log.Warn("x2")
	log.Warn("x3")
	log.Warn("x1") // suppressed; x1 now the most recent
	log.Warn("x4") // evicts x2 (nothing pending: no line)
	log.Warn("x1") // still known: suppressed
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range logs.All() {
		n, _ := repeatedOf(t, e)
		got = append(got, fmt.Sprintf("%s/%d", e.Message, n))
	}
	if want := "x1/0 x2/0 x3/0 x4/0 x1/2"; strings.Join(got, " ") != want {
		t.Errorf("LRU eviction: %s, want %s", strings.Join(got, " "), want)
	}
}

func TestDedupKeepsComponentLevels(t *testing.T) {
	levels, err := NewLevels("info")
	if err != nil {
		t.Fatal(err)
	}
	if err := levels.Set("kasa", "error"); err != nil {
		t.Fatal(err)
	}
	if err := levels.Set("mqtt", "debug"); err != nil {
		t.Fatal(err)
	}
	log, logs, _, _ := dedupObserved(t, levels, dedupMaxKeys)
	kasa, mqtt := log.Named("kasa"), log.Named("bridge").Named("mqtt")
	for range 3 {
		kasa.Warn("dropped by level")
		kasa.Info("dropped by level")
		log.Debug("dropped by level")
		mqtt.Debug("kept")
	}
	kasa.Error("kept")
	log.Warn("kept")
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.LoggerName+":"+e.Level.String()+":"+e.Message)
	}
	want := "bridge.mqtt:debug:kept bridge.mqtt:debug:kept bridge.mqtt:debug:kept kasa:error:kept :warn:kept"
	if strings.Join(got, " ") != want {
		t.Errorf("lines:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if ce := kasa.Check(zapcore.WarnLevel, "x"); ce != nil {
		t.Errorf("Check of a kasa warning: not nil")
	}
	if ce := kasa.Check(zapcore.ErrorLevel, "x"); ce == nil {
		t.Errorf("Check of a kasa error: nil")
	}
}

func TestDedupConcurrent(t *testing.T) {
	log, logs, clock, _ := dedupObserved(t, nil, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := log.With(zap.Int("g", g%2))
			for i := range 200 {
				l.Warn("busy")
				l.Warn("distinct", zap.Int("i", i))
				if i%50 == 0 {
					clock.Advance(30 * time.Second)
					_ = log.Sync()
				}
			}
		})
	}
	wg.Wait()
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	// Every "busy" is a line or in the count of one (a flush line, with
	// last_seen, stands only for its count).
	var total int64
	for _, e := range logs.FilterMessage("busy").All() {
		n, _ := repeatedOf(t, e)
		total += n
		if _, flush := e.ContextMap()["last_seen"]; !flush {
			total++
		}
	}
	if total != 8*200 {
		t.Errorf("busy: %d accounted for, want %d", total, 8*200)
	}
}

func TestNewLoggerDedup(t *testing.T) {
	levels, err := NewLevels("info")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := NewLogger(levels, "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		log.Named("poller").Warn("poll failed", zap.String("device", "lamp"))
	}
	for range 3 {
		log.Info("hello")
	}
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	var first, flush map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[4]), &flush); err != nil {
		t.Fatal(err)
	}
	if _, ok := first["repeated"]; ok || first["msg"] != "poll failed" {
		t.Errorf("first line: %s", lines[0])
	}
	if flush["msg"] != "poll failed" || flush["logger"] != "poller" || flush["device"] != "lamp" ||
		flush["repeated"] != float64(99) || flush["last_seen"] == nil || flush["level"] != "warn" {
		t.Errorf("flush line: %s", lines[4])
	}
}
