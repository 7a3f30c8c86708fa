package kasatest

import (
	"net/http"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

// statusHang is the pseudo status handle returns for a request that must
// hang (see Hang); serveHTTP then holds the request instead of answering.
const statusHang = -1

// faults holds the fault knobs that are not envelope answers. hang is
// guarded by Server.mu; gate and latency have their own mutexes; closing
// is closed once by Close.
type faults struct {
	hang        int // requests still to hang
	gate        httpfault.Gate
	latency     httpfault.Latency
	closing     chan struct{}
	closingOnce sync.Once
}

// Hang makes the next n requests (of any method, counted by Calls and
// Requests like answered ones) hang without an answer until the client
// gives up (its context ends or its connection closes) or the server is
// closed. Hang(0) ends the knob; requests already hanging stay hung.
// Hang is checked before FailHTTP and FailNext.
func (s *Server) Hang(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.hang = max(n, 0)
}

// SetLatency makes every request wait d before it is handled (0: no
// wait), like a distant cloud. Requests that arrive together are then in
// flight together, which is what concurrency tests need. A client that
// gives up while waiting gets no answer. Safe for concurrent use.
func (s *Server) SetLatency(d time.Duration) { s.faults.latency.Set(d) }

// HoldNext makes the next n requests wait until the n-th has arrived, then
// go on together (to the latency, then the answer): calls that must be in
// flight at the same moment, however slowly they were sent. HoldNext(0)
// lets the held ones go. A client that gives up while held gets no
// answer. Safe for concurrent use.
func (s *Server) HoldNext(n int) { s.faults.gate.Hold(n) }

// delay waits for the gate and out the latency; false when the client gave
// up or the server is closing meanwhile (then there is nothing to answer).
func (s *Server) delay(r *http.Request) bool {
	return s.faults.gate.Wait(r.Context(), s.faults.closingCh()) && s.faults.latency.Wait(r.Context(), s.faults.closingCh())
}

// takeHang reports whether the current request must hang, counting it
// down. s.mu is held.
func (s *Server) takeHang() bool {
	if s.faults.hang <= 0 {
		return false
	}
	s.faults.hang--
	return true
}

// closingCh returns the channel closed when the server closes.
func (f *faults) closingCh() chan struct{} {
	f.closingOnce.Do(func() { f.closing = make(chan struct{}) })
	return f.closing
}

// release ends every hung request (for Close).
func (f *faults) release() { close(f.closingCh()) }

// hold blocks a hung request until its client gives up or the server
// closes.
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.faults.closingCh():
	}
}
