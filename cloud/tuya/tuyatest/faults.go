package tuyatest

import (
	"net/http"
	"time"
)

// SetLatency makes every request wait d before it is answered (0: no
// wait), like a distant data centre. Requests that arrive together are
// then in flight together, which is what concurrency tests need. A client
// that gives up while waiting gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(d, 0)
}

// delay waits out the latency; false when the client gave up or the server
// is closing meanwhile (then there is nothing to answer).
func (s *Server) delay(r *http.Request) bool {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}
