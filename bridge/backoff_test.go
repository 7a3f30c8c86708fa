package bridge

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestBackoffDelay_NeverAboveItsLimit(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for range 200 {
			if d := backoffDelay(n, 5*time.Second, time.Hour); d > time.Hour || d < 2500*time.Millisecond {
				t.Fatalf("backoffDelay(%d, 5s, 1h) = %s", n, d)
			}
			if d := backoffDelay(n, 5*time.Second, 30*time.Minute); d > 30*time.Minute {
				t.Fatalf("backoffDelay(%d, 5s, 30m) = %s, above the list interval", n, d)
			}
		}
	}
}

func TestPollBackoff_GrowsJitteredWithinTheCap(t *testing.T) {
	for _, tc := range []struct{ interval, limit time.Duration }{
		{time.Second, 5 * time.Second},
		{60 * time.Second, 5 * time.Minute},
		{2 * time.Minute, 5 * time.Minute},
		{10 * time.Minute, 10 * time.Minute}, // never below the interval
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			prevMax := time.Duration(0)
			for n := 1; n <= 30; n++ {
				lo, hi := time.Duration(1<<62), time.Duration(0)
				for range 500 {
					d := pollBackoff(n, tc.interval)
					lo, hi = min(lo, d), max(hi, d)
				}
				if lo < tc.interval || hi > tc.limit {
					t.Fatalf("n=%d: waits %s..%s, want within [%s, %s]", n, lo, hi, tc.interval, tc.limit)
				}
				if hi < prevMax/2 {
					t.Errorf("n=%d: waits shrank to %s after %s", n, hi, prevMax)
				}
				prevMax = max(prevMax, hi)
				if (n == 3 || n == 30) && tc.limit > tc.interval && hi-lo < tc.interval/2 {
					t.Errorf("n=%d: waits %s..%s: no jitter", n, lo, hi)
				}
			}
			if tc.limit > tc.interval && prevMax < tc.limit*9/10 {
				t.Errorf("waits never approached the cap %s (max %s)", tc.limit, prevMax)
			}
		})
	}
}

func TestOutage_OnlyWhenEveryDeviceFailsForTheCloud(t *testing.T) {
	down := fmt.Errorf("read: http status %q: %w", "500 Internal Server Error", cloud.ErrUnavailable)
	offline := fmt.Errorf("read: %w", cloud.ErrDeviceOffline)
	for name, tc := range map[string]struct {
		states []cloud.State
		want   bool
	}{
		"none":         {nil, false},
		"all down":     {[]cloud.State{{DeviceID: "a", Err: down}, {DeviceID: "b", Err: down}}, true},
		"one answered": {[]cloud.State{{DeviceID: "a", Err: down}, {DeviceID: "b"}}, false},
		"one offline":  {[]cloud.State{{DeviceID: "a", Err: down}, {DeviceID: "b", Err: offline}}, false},
	} {
		err := outage(tc.states)
		if (err != nil) != tc.want {
			t.Errorf("%s: outage = %v, want an outage: %v", name, err, tc.want)
		}
		if err != nil && !errors.Is(err, cloud.ErrUnavailable) {
			t.Errorf("%s: %v does not wrap cloud.ErrUnavailable", name, err)
		}
	}
}
