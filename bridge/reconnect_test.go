package bridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestReconnectDelay_ImmediateThenDoublingUpToTheCap(t *testing.T) {
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for n, w := range want {
		if got := reconnectDelay(n, 30*time.Second); got != w {
			t.Errorf("reconnectDelay(%d, 30s) = %v, want %v", n, got, w)
		}
	}
	if got := reconnectDelay(3, 0); got != 2*time.Second {
		t.Errorf("reconnectDelay(3, default) = %v, want 2s", got)
	}
	if got := reconnectDelay(1000, 0); got != 30*time.Second {
		t.Errorf("reconnectDelay(1000, default) = %v, want the 30s default cap", got)
	}
	if got := reconnectDelay(1, 200*time.Millisecond); got != 200*time.Millisecond {
		t.Errorf("reconnectDelay(1, 200ms) = %v, want the cap", got)
	}
}

func TestRetryable_OnlyIdempotentSetsAndOnlyFailuresThatMayPass(t *testing.T) {
	relay := cloud.Command{DeviceID: "x", Action: cloud.ActionSetRelay, On: true}
	led := cloud.Command{DeviceID: "x", Action: cloud.ActionSetLED}
	reboot := cloud.Command{DeviceID: "x", Action: cloud.ActionReboot}
	outage := fmt.Errorf("vendor: call: http status \"503 Service Unavailable\": %w", cloud.ErrUnavailable)
	timeout := fmt.Errorf("vendor: call: no answer within 20s: %w", cloud.ErrTimeout)
	busy := fmt.Errorf("vendor: call: cloud busy: %w", cloud.ErrUnavailable)
	for _, tc := range []struct {
		cmd  cloud.Command
		err  error
		want bool
	}{
		{relay, outage, true},
		{led, outage, true},
		{relay, timeout, true},
		{led, timeout, true},
		{relay, busy, true},
		{reboot, outage, false}, // not idempotent
		{reboot, timeout, false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrAuth), false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrDeviceOffline), false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrUnknownDevice), false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrUnsupported), false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrRefused), false},
		{relay, fmt.Errorf("vendor: %w", cloud.ErrRateLimited), false},
		{relay, fmt.Errorf("vendor: %w", context.Canceled), false},
		{relay, fmt.Errorf("vendor: %w", context.DeadlineExceeded), false},
		// Only what says the cloud may answer later: not an answer that
		// could not be decoded, an unclassified error code or a bug.
		{relay, errors.New("vendor: call: malformed response: not a JSON object"), false},
		{relay, errors.New("vendor: call: cloud error -1 (unknown error)"), false},
		{relay, errors.New("apply command: internal error (recovered panic)"), false},
	} {
		if got := retryable(tc.cmd, tc.err); got != tc.want {
			t.Errorf("retryable(%s, %v) = %v, want %v", tc.cmd, tc.err, got, tc.want)
		}
	}
}

func TestNew_DefaultBirthDelayIsRandomBetweenOneAndFiveSeconds(t *testing.T) {
	b, err := New(Options{MQTT: MQTTOptions{Server: "mqtt://127.0.0.1:1883", ClientID: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := b.opts.BirthDelay()
		if d < time.Second || d >= 5*time.Second {
			t.Fatalf("default birth delay %v, want 1s ≤ d < 5s", d)
		}
		seen[d] = true
	}
	if len(seen) < 90 {
		t.Errorf("100 default birth delays took only %d values: not random", len(seen))
	}
}
