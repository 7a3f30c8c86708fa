package broker

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// The retained-expiry scan's ticker is found in this mochi version: when
// an upgrade moves it, this fails instead of the broker silently scanning
// every retained message every second again.
func TestSlowRetainedExpiryFindsMochisTicker(t *testing.T) {
	srv := mqtt.New(nil)
	defer srv.Close()
	if !slowRetainedExpiry(srv, retainedExpiryEvery) {
		t.Fatal("mochi's retained-expiry ticker was not found: check the mochi version's Server.loop")
	}
}
