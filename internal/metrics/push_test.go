package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

func TestMetrics_Push(t *testing.T) {
	m := New()
	if body := scrape(t, m); strings.Contains(body, "kasa2mqtt_push_seconds_since_last_frame{") {
		t.Fatal("seconds since the last frame exported before any frame")
	}
	for range 2 {
		m.PushFrame("tuya", "garden", "4", cloud.PushApplied)
	}
	m.PushFrame("tuya", "garden", "1000", cloud.PushDuplicate)
	m.PushFrame("tuya", "garden", "none", cloud.PushParseError)
	m.PushReconnect("tuya", "garden")
	at := time.Now().Add(-90 * time.Second)
	m.PushReceived("tuya", "garden", at)
	if got := m.PushLastReceived("tuya", "garden"); !got.Equal(at) {
		t.Fatalf("PushLastReceived = %v, want %v", got, at)
	}

	body := scrape(t, m)
	wantLines(t, body,
		`kasa2mqtt_push_frames_total{account="garden",protocol="4",provider="tuya",result="applied"} 2`,
		`kasa2mqtt_push_frames_total{account="garden",protocol="1000",provider="tuya",result="duplicate"} 1`,
		`kasa2mqtt_push_frames_total{account="garden",protocol="none",provider="tuya",result="parse_error"} 1`,
		`kasa2mqtt_push_reconnects_total{account="garden",provider="tuya"} 1`,
		`# TYPE kasa2mqtt_push_seconds_since_last_frame gauge`,
	)
	var since float64
	for l := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(l, `kasa2mqtt_push_seconds_since_last_frame{account="garden",provider="tuya"} `); ok {
			since, _ = strconv.ParseFloat(v, 64)
		}
	}
	if since < 90 || since > 3600 {
		t.Fatalf("seconds since the last frame = %v, want about 90", since)
	}
	var nilM *Metrics
	nilM.PushFrame("tuya", "a", "4", cloud.PushApplied)
	nilM.PushReconnect("tuya", "a")
	nilM.PushReceived("tuya", "a", time.Now())
}
