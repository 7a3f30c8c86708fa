package tuyatest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// BodyFault writes a hostile answer in place of body, the answer the fake
// would have sent. It runs without the server's lock held.
type BodyFault func(w io.Writer, body []byte)

// bodyFaults are the pending RewriteNext rules. Guarded by Server.mu.
type bodyFaults struct {
	rules []*bodyRule
}

type bodyRule struct {
	prefix string
	n      int
	fault  BodyFault
}

// RewriteNext makes the next n answers (HTTP 200) to requests whose path
// starts with pathPrefix ("/v1.0/token", "/v1.0/iot-03/devices/status";
// "" for any) be written by f instead. The request is handled as usual
// first (tokens issued, commands applied); only the bytes of the answer
// change. A later rule for the same prefix replaces the earlier one;
// RewriteNext(prefix, 0, nil) removes it.
func (s *Server) RewriteNext(pathPrefix string, n int, f BodyFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := s.hostile.rules[:0]
	for _, r := range s.hostile.rules {
		if r.prefix != pathPrefix {
			rules = append(rules, r)
		}
	}
	if n > 0 && f != nil {
		rules = append(rules, &bodyRule{prefix: pathPrefix, n: n, fault: f})
	}
	s.hostile.rules = rules
}

// writeBody writes a successful answer, or what a RewriteNext rule makes of
// it.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, resp []byte) {
	var fault BodyFault
	s.mu.Lock()
	for i, rule := range s.hostile.rules {
		if strings.HasPrefix(r.URL.Path, rule.prefix) {
			fault = rule.fault
			if rule.n--; rule.n <= 0 {
				s.hostile.rules = append(s.hostile.rules[:i:i], s.hostile.rules[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if fault != nil {
		fault(w, resp)
		return
	}
	_, _ = w.Write(resp)
}

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

// Giant answers with size bytes: a successful envelope whose result is one
// huge string, streamed (never held in memory), so that a client must stop
// reading on its own.
func Giant(size int64) BodyFault {
	return func(w io.Writer, _ []byte) {
		head, tail := `{"success":true,"t":1700000000000,"result":"`, `"}`
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

// PendingRewrites returns how many answers the RewriteNext rules have yet
// to rewrite.
func (s *Server) PendingRewrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.hostile.rules {
		n += r.n
	}
	return n
}
