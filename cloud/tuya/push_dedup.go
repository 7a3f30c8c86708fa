package tuya

// seenCapacity is how many message ids (and report keys) the push
// connection remembers to recognise a message delivered again. The
// message service redelivers a message when it was not acknowledged
// within seconds, so a few thousand cover far more than that window.
const seenCapacity = 4096

// seenSet remembers the last seenCapacity keys added, oldest forgotten
// first. It is owned by one goroutine (the push connection).
type seenSet struct {
	keys map[string]struct{}
	ring []string
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{keys: make(map[string]struct{}, n), ring: make([]string, n)}
}

// has reports whether key was added and not forgotten yet.
func (s *seenSet) has(key string) bool {
	_, ok := s.keys[key]
	return ok
}

// add remembers key (forgetting the oldest key when full).
func (s *seenSet) add(key string) {
	if s.has(key) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.keys, old)
	}
	s.ring[s.next] = key
	s.keys[key] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
