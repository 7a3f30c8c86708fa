package kasa

import "time"

// SetClock replaces the session clock (login back-off) for tests.
func SetClock(p *Provider, now func() time.Time) {
	p.sess.mu.Lock()
	defer p.sess.mu.Unlock()
	p.sess.now = now
}

// BulbReadings is bulbReadings, for tests.
var BulbReadings = bulbReadings
