package httpfault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

func write(f httpfault.BodyFault, body string) string {
	var b bytes.Buffer
	f(&b, []byte(body))
	return b.String()
}

func TestFaults(t *testing.T) {
	const body = `{"ok":true,"v":1}`
	for _, tc := range []struct {
		name  string
		fault httpfault.BodyFault
		want  string
	}{
		{"Raw", httpfault.Raw("<html>"), "<html>"},
		{"Truncate", httpfault.Truncate(), body[:len(body)/2]},
		{"Replace", httpfault.Replace("true", "false"), `{"ok":false,"v":1}`},
		{"Giant", httpfault.Giant(`{"r":"`, `"}`, 12), `{"r":"AAAA"}`},
		{"GiantTooSmall", httpfault.Giant(`{"r":"`, `"}`, 3), `{"r":""}`},
	} {
		if got := write(tc.fault, body); got != tc.want {
			t.Errorf("%s: wrote %q, want %q", tc.name, got, tc.want)
		}
	}
}

// limitWriter fails once it has taken n bytes, like a client that stops
// reading.
type limitWriter struct {
	n   int
	got int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.got+len(p) > w.n {
		return 0, errors.New("closed")
	}
	w.got += len(p)
	return len(p), nil
}

func TestGiant_StreamsAndStopsWhenTheReaderDoes(t *testing.T) {
	const size = 10 << 20
	var all limitWriter
	all.n = size
	httpfault.Giant("head", "tail", size)(&all, nil)
	if all.got != size {
		t.Errorf("wrote %d bytes, want %d", all.got, size)
	}
	w := &limitWriter{n: 1 << 20}
	httpfault.Giant("head", "tail", size)(w, nil)
	if w.got > 1<<20 {
		t.Errorf("wrote %d bytes past a failed write", w.got)
	}
}

func TestRewrites(t *testing.T) {
	var q httpfault.Rewrites
	key := func(k string) func(string) bool { return func(s string) bool { return s == k } }
	write := func(match func(string) bool) string {
		var b bytes.Buffer
		q.Write(&b, match, []byte("real"))
		return b.String()
	}

	if got := write(key("a")); got != "real" {
		t.Fatalf("no rules: wrote %q", got)
	}
	q.Set("a", 2, httpfault.Raw("A"))
	q.Set("b", 1, httpfault.Raw("B"))
	if n := q.Pending(); n != 3 {
		t.Errorf("Pending = %d, want 3", n)
	}
	if got := write(key("b")); got != "B" {
		t.Errorf("b: wrote %q, want B", got)
	}
	if got := write(key("b")); got != "real" {
		t.Errorf("b after its one rewrite: wrote %q, want real", got)
	}
	// A later rule for the same key replaces the earlier one.
	q.Set("a", 1, httpfault.Raw("A2"))
	if n := q.Pending(); n != 1 {
		t.Errorf("Pending after replacing a = %d, want 1", n)
	}
	if got := write(key("a")); got != "A2" {
		t.Errorf("a: wrote %q, want A2", got)
	}
	if n := q.Pending(); n != 0 {
		t.Errorf("Pending when spent = %d, want 0", n)
	}

	// Rules match in the order they were set; Set(key, 0, nil) removes one.
	q.Set("/v1/x", 5, httpfault.Raw("X"))
	q.Set("/v1", 5, httpfault.Raw("V"))
	prefixOf := func(path string) func(string) bool {
		return func(p string) bool { return strings.HasPrefix(path, p) }
	}
	if got := write(prefixOf("/v1/x/y")); got != "X" {
		t.Errorf("/v1/x/y: wrote %q, want X", got)
	}
	q.Set("/v1/x", 0, nil)
	if got := write(prefixOf("/v1/x/y")); got != "V" {
		t.Errorf("/v1/x/y after removal: wrote %q, want V", got)
	}
	if n := q.Pending(); n != 4 {
		t.Errorf("Pending = %d, want 4", n)
	}
}

func TestRewrites_ConcurrentTakesCountEachRewriteOnce(t *testing.T) {
	var q httpfault.Rewrites
	q.Set("", 50, httpfault.Raw("F"))
	var mu sync.Mutex
	faulted := 0
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if q.Take(func(string) bool { return true }) != nil {
				mu.Lock()
				faulted++
				mu.Unlock()
			}
			_ = q.Pending()
		})
	}
	wg.Wait()
	if faulted != 50 || q.Pending() != 0 {
		t.Errorf("%d requests faulted, %d pending; want 50, 0", faulted, q.Pending())
	}
}

func TestLatency(t *testing.T) {
	var l httpfault.Latency
	never := make(chan struct{})
	if !l.Wait(context.Background(), never) {
		t.Error("zero Latency: Wait = false")
	}

	const d = 50 * time.Millisecond
	l.Set(d)
	start := time.Now()
	if !l.Wait(context.Background(), never) {
		t.Error("Wait = false with nothing ending")
	}
	if took := time.Since(start); took < d {
		t.Errorf("Wait returned after %s, want at least %s", took, d)
	}

	l.Set(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.Wait(ctx, never) {
		t.Error("Wait = true after the client gave up")
	}
	closing := make(chan struct{})
	close(closing)
	if l.Wait(context.Background(), closing) {
		t.Error("Wait = true with the server closing")
	}

	l.Set(-time.Second)
	if !l.Wait(ctx, closing) {
		t.Error("negative latency: Wait = false, want no wait at all")
	}
}
