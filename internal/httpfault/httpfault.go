// Package httpfault is the vendor-neutral fault-injection plumbing of the
// fake clouds (kasatest, tuyatest): hostile answer bodies (BodyFault and
// its constructors), a queue of rules that rewrite the next answers
// (Rewrites), a per-request delay (Latency) and a gate that holds requests
// until several are in flight (Gate). What a request is (a
// method, a path) and what a vendor's envelope looks like stay in each
// fake.
package httpfault

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// BodyFault writes a hostile answer in place of body, the answer the fake
// would have sent. A fake calls it without holding any lock of its own.
type BodyFault func(w io.Writer, body []byte)

// Raw answers with body, whatever was asked.
func Raw(body string) BodyFault {
	return func(w io.Writer, _ []byte) { _, _ = io.WriteString(w, body) }
}

// Truncate answers with the first half of the real answer (cut JSON).
func Truncate() BodyFault {
	return func(w io.Writer, body []byte) { _, _ = w.Write(body[:len(body)/2]) }
}

// Replace answers with the real answer with every old replaced by new.
func Replace(old, new string) BodyFault {
	return func(w io.Writer, body []byte) {
		_, _ = w.Write(bytes.ReplaceAll(body, []byte(old), []byte(new)))
	}
}

// Giant answers with size bytes in all: head, then as many 'A's as make up
// the size, then tail. The filler is streamed (never held in memory), so a
// client must stop reading on its own; writing stops when a write fails
// (the client stopped reading), and then tail is not written. When head
// and tail alone are longer than size, they are written whole.
func Giant(head, tail string, size int64) BodyFault {
	return func(w io.Writer, _ []byte) {
		_, _ = io.WriteString(w, head)
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for left := size - int64(len(head)+len(tail)); left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := w.Write(chunk[:n]); err != nil {
				return // the client stopped reading
			}
			left -= n
		}
		_, _ = io.WriteString(w, tail)
	}
}

// Rewrites is a queue of rules that each rewrite the next n answers to the
// requests they match. A rule has a key that the fake interprets (a
// method name, a path prefix); which key matches a request is the fake's
// call, made in Take. The zero value has no rules. Rewrites is safe for
// concurrent use: it has its own mutex and holds it only inside its
// methods, never while a fault runs.
type Rewrites struct {
	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	key   string
	n     int
	fault BodyFault
}

// Set makes f rewrite the next n answers to the requests key matches. A
// rule replaces any earlier rule with the same key and goes to the end of
// the queue; Set(key, 0, nil) (or any n <= 0 or nil f) removes it.
func (q *Rewrites) Set(key string, n int, f BodyFault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rules := q.rules[:0]
	for _, r := range q.rules {
		if r.key != key {
			rules = append(rules, r)
		}
	}
	if n > 0 && f != nil {
		rules = append(rules, &rule{key: key, n: n, fault: f})
	}
	q.rules = rules
}

// Take returns the fault of the first rule, in the order the rules were
// set, whose key match accepts, and counts that rule down (removing it at
// zero); nil when none matches. match is called with q's mutex held and
// only when there are rules, so it must not call q's methods.
func (q *Rewrites) Take(match func(key string) bool) BodyFault {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, r := range q.rules {
		if match(r.key) {
			if r.n--; r.n <= 0 {
				q.rules = append(q.rules[:i:i], q.rules[i+1:]...)
			}
			return r.fault
		}
	}
	return nil
}

// Write writes body to w, or what the rule Take(match) returns makes of
// it. The fault runs without q's mutex held.
func (q *Rewrites) Write(w io.Writer, match func(key string) bool, body []byte) {
	if f := q.Take(match); f != nil {
		f(w, body)
		return
	}
	_, _ = w.Write(body)
}

// Pending returns how many answers the rules have yet to rewrite.
func (q *Rewrites) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, r := range q.rules {
		n += r.n
	}
	return n
}

// Latency is how long every request waits before it is handled, like a
// distant cloud. The zero value is no wait. Latency is safe for
// concurrent use (it has its own mutex); Set applies to the requests that
// call Wait afterwards, not to those already waiting.
type Latency struct {
	mu sync.Mutex
	d  time.Duration
}

// Set sets the wait; 0 (or less) is none.
func (l *Latency) Set(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = max(d, 0)
}

// Wait waits out the latency. It returns false, early, when ctx ends (the
// client gave up) or closing is closed (the server is closing): then there
// is nothing to answer. With no latency it returns true at once.
func (l *Latency) Wait(ctx context.Context, closing <-chan struct{}) bool {
	l.mu.Lock()
	d := l.d
	l.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-closing:
	}
	return false
}
