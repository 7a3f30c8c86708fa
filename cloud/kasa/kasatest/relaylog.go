package kasatest

import "slices"

// RelayHistory returns the relay values that successful set_relay_state
// requests applied to the plug or strip outlet id, oldest first, so that
// tests can check that commands arrived complete and in order. A
// set_relay_state without context on a strip counts for every outlet.
// Requests that failed (FailNext, FailHTTP, Hang, expired tokens, offline
// devices, FailDeviceNext) are not in it, and neither is SetRelay (a change
// made in the app). ResetCalls does not clear it.
func (s *Server) RelayHistory(id string) []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustLookup(id)
	return slices.Clone(s.relayLog[id])
}

// noteRelay records a successful set_relay_state on d (targets: the
// outlets named in the request's context). s.mu is held.
func (s *Server) noteRelay(d *device, targets []*outlet, on bool) {
	if s.relayLog == nil {
		s.relayLog = map[string][]bool{}
	}
	switch {
	case len(targets) > 0:
		for _, o := range targets {
			s.relayLog[o.id] = append(s.relayLog[o.id], on)
		}
	case d.strip():
		for _, o := range d.outlets {
			s.relayLog[o.id] = append(s.relayLog[o.id], on)
		}
	default:
		s.relayLog[d.id] = append(s.relayLog[d.id], on)
	}
}
