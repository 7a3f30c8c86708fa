package tuyatest

import (
	"net/http"
	"time"
)

// SetLatency makes every request wait d before it is answered (0: no
// wait), like a distant data centre. Requests that arrive together are
// then in flight together, which is what concurrency tests need. A client
// that gives up while waiting gets no answer. Safe for concurrent use.
func (s *Server) SetLatency(d time.Duration) { s.latency.Set(d) }

// HoldNext makes the next n requests wait until the n-th has arrived, then
// go on together (to the latency, then the answer): calls that must be in
// flight at the same moment, however slowly they were sent. HoldNext(0)
// lets the held ones go. A client that gives up while held gets no
// answer. Safe for concurrent use.
func (s *Server) HoldNext(n int) { s.gate.Hold(n) }

// delay waits for the gate and out the latency; false when the client gave
// up or the server is closing meanwhile (then there is nothing to answer).
func (s *Server) delay(r *http.Request) bool {
	return s.gate.Wait(r.Context(), s.closing) && s.latency.Wait(r.Context(), s.closing)
}
