package tuyatest

import (
	"net/http"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

// BodyFault writes a hostile answer in place of body, the answer the fake
// would have sent. It runs without the server's lock held.
type BodyFault = httpfault.BodyFault

// RewriteNext makes the next n answers (HTTP 200) to requests whose path
// starts with pathPrefix ("/v1.0/token", "/v1.0/iot-03/devices/status";
// "" for any) be written by f instead. The request is handled as usual
// first (tokens issued, commands applied); only the bytes of the answer
// change. A later rule for the same prefix replaces the earlier one;
// RewriteNext(prefix, 0, nil) removes it. Safe for concurrent use.
func (s *Server) RewriteNext(pathPrefix string, n int, f BodyFault) {
	s.hostile.Set(pathPrefix, n, f)
}

// writeBody writes a successful answer, or what a RewriteNext rule makes of
// it.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, resp []byte) {
	s.hostile.Write(w, func(prefix string) bool { return strings.HasPrefix(r.URL.Path, prefix) }, resp)
}

// Raw answers with body, whatever was asked.
func Raw(body string) BodyFault { return httpfault.Raw(body) }

// Truncate answers with the first half of the real answer (cut JSON).
func Truncate() BodyFault { return httpfault.Truncate() }

// Replace answers with the real answer with every old replaced by new.
func Replace(old, new string) BodyFault { return httpfault.Replace(old, new) }

// Giant answers with size bytes: a successful envelope whose result is one
// huge string, streamed (never held in memory), so that a client must stop
// reading on its own.
func Giant(size int64) BodyFault {
	return httpfault.Giant(`{"success":true,"t":1700000000000,"result":"`, `"}`, size)
}

// PendingRewrites returns how many answers the RewriteNext rules have yet
// to rewrite. Safe for concurrent use.
func (s *Server) PendingRewrites() int { return s.hostile.Pending() }
