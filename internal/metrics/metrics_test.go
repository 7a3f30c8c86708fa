package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// scrape serves m.Handler on 127.0.0.1 and returns one scrape's body.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("test server listens on %s, want 127.0.0.1", srv.Listener.Addr())
	}
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	return string(body)
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	have := make(map[string]bool)
	for l := range strings.SplitSeq(body, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("exposition lacks line %q", l)
		}
	}
}

func TestMetrics_Handler(t *testing.T) {
	m := New()
	for range 3 {
		m.CloudCall("kasa", "home", "passthrough", nil)
	}
	m.CloudCall("kasa", "home", "passthrough", fmt.Errorf("kasa: passthrough: code -20571: %w", cloud.ErrDeviceOffline))
	m.CloudCall("tuya", "cabin", "GET /v1.0/iot-03/devices/status", fmt.Errorf("tuya: %w", cloud.ErrRateLimited))
	m.CloudCall("kasa", "home", "login", fmt.Errorf("kasa: login: %w", cloud.ErrAuth))
	m.Login("kasa", "home", "login")
	m.Login("kasa", "home", "refresh")
	m.Login("kasa", "home", "refresh")
	m.MQTTMessage("in")
	m.MQTTMessage("out")
	m.MQTTMessage("out")
	m.ObservePoll("kasa", "home", 30*time.Millisecond)
	m.ObservePoll("kasa", "home", 2*time.Second)
	m.SetDevices("kasa", "home", 4)
	m.SetDevicesOnline("kasa", "home", 3)
	m.SetMQTTConnected(true)
	m.SetBuildInfo("1.2.3", "abc123")

	body := scrape(t, m)
	wantLines(t, body,
		`kasa2mqtt_cloud_calls_total{account="home",method="passthrough",provider="kasa",result="ok"} 3`,
		`kasa2mqtt_cloud_calls_total{account="home",method="passthrough",provider="kasa",result="offline"} 1`,
		`kasa2mqtt_cloud_calls_total{account="cabin",method="GET /v1.0/iot-03/devices/status",provider="tuya",result="rate_limited"} 1`,
		`kasa2mqtt_cloud_calls_total{account="home",method="login",provider="kasa",result="auth"} 1`,
		`kasa2mqtt_logins_total{account="home",kind="login",provider="kasa"} 1`,
		`kasa2mqtt_logins_total{account="home",kind="refresh",provider="kasa"} 2`,
		`kasa2mqtt_mqtt_messages_total{direction="in"} 1`,
		`kasa2mqtt_mqtt_messages_total{direction="out"} 2`,
		`kasa2mqtt_poll_duration_seconds_bucket{account="home",provider="kasa",le="0.01"} 0`,
		`kasa2mqtt_poll_duration_seconds_bucket{account="home",provider="kasa",le="0.05"} 1`,
		`kasa2mqtt_poll_duration_seconds_bucket{account="home",provider="kasa",le="2.5"} 2`,
		`kasa2mqtt_poll_duration_seconds_bucket{account="home",provider="kasa",le="60"} 2`,
		`kasa2mqtt_poll_duration_seconds_bucket{account="home",provider="kasa",le="+Inf"} 2`,
		`kasa2mqtt_poll_duration_seconds_sum{account="home",provider="kasa"} 2.03`,
		`kasa2mqtt_poll_duration_seconds_count{account="home",provider="kasa"} 2`,
		`kasa2mqtt_devices{account="home",provider="kasa"} 4`,
		`kasa2mqtt_devices_online{account="home",provider="kasa"} 3`,
		`kasa2mqtt_mqtt_connected 1`,
		`kasa2mqtt_build_info{commit="abc123",version="1.2.3"} 1`,
		`# TYPE kasa2mqtt_poll_duration_seconds histogram`,
		`# TYPE kasa2mqtt_cloud_calls_total counter`,
		`# TYPE kasa2mqtt_devices gauge`,
	)
	// The standard collectors are registered in the own registry.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("exposition lacks %s", name)
		}
	}

	m.SetMQTTConnected(false)
	if got := testutil.ToFloat64(m.mqttConnected); got != 0 {
		t.Errorf("mqtt_connected after SetMQTTConnected(false) = %v, want 0", got)
	}
}

func TestMetrics_NotTheDefaultRegistry(t *testing.T) {
	a, b := New(), New() // a second New must not panic on duplicate registration
	a.MQTTMessage("in")
	if got := testutil.ToFloat64(b.mqttMessages.WithLabelValues("in")); got != 0 {
		t.Errorf("second Metrics sees %v messages, want 0", got)
	}
	if a.Registry() == b.Registry() {
		t.Error("two Metrics share a registry")
	}
}

func TestMetrics_ConnectedStartsAtZero(t *testing.T) {
	body := scrape(t, New())
	wantLines(t, body, "kasa2mqtt_mqtt_connected 0")
	if strings.Contains(body, "kasa2mqtt_build_info{") {
		t.Error("build_info present before SetBuildInfo")
	}
}

func TestMetrics_SetBuildInfoReplaces(t *testing.T) {
	m := New()
	m.SetBuildInfo("1.0.0", "aaa")
	m.SetBuildInfo("1.0.1", "")
	body := scrape(t, m)
	wantLines(t, body, `kasa2mqtt_build_info{commit="unknown",version="1.0.1"} 1`)
	if strings.Contains(body, `version="1.0.0"`) {
		t.Error("old build_info series still exported")
	}
}

func TestErrorClass(t *testing.T) {
	deadline, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{fmt.Errorf("x: %w", cloud.ErrAuth), "auth"},
		{fmt.Errorf("x: %w", cloud.ErrDeviceOffline), "offline"},
		{fmt.Errorf("x: %w", cloud.ErrRateLimited), "rate_limited"},
		{fmt.Errorf("x: %w", cloud.ErrUnknownDevice), "unknown_device"},
		{fmt.Errorf("x: %w", cloud.ErrUnsupported), "unsupported"},
		{fmt.Errorf("x: %w", cloud.ErrRefused), "refused"},
		{fmt.Errorf("x: %w", deadline.Err()), "timeout"},
		{fmt.Errorf("x: %w", canceled.Err()), "canceled"},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), "timeout"}, // a net.Error with Timeout()
		{errors.Join(cloud.ErrRateLimited, context.DeadlineExceeded), "rate_limited"},
		// The call's own deadline (not the caller's): a timeout that is
		// no context error.
		{cloud.CallFailed(context.Background(), deadline, time.Second, deadline.Err()), "timeout"},
		{fmt.Errorf("x: %w", cloud.ErrTimeout), "timeout"},
		// HTTP 5xx, network errors, a busy cloud.
		{fmt.Errorf("x: http status \"503 Service Unavailable\": %w", cloud.ErrUnavailable), "unavailable"},
		{cloud.CallFailed(context.Background(), context.Background(), time.Second, errors.New("connection refused")), "unavailable"},
		{errors.Join(cloud.ErrRateLimited, cloud.ErrUnavailable), "rate_limited"},
		{errors.Join(cloud.ErrUnavailable, context.Canceled), "unavailable"},
		{errors.New("boom"), "error"},
	}
	for _, tt := range tests {
		if got := ErrorClass(tt.err); got != tt.want {
			t.Errorf("ErrorClass(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestMetrics_LabelValuesAreBounded(t *testing.T) {
	m := New()
	long := strings.Repeat("é", 40) // 80 bytes; byte 64 is a rune start
	m.CloudCall("kasa", "home", long+"x", nil)
	m.CloudCall("kasa", "home", "a"+long, nil) // byte 64 is mid-rune
	m.MQTTMessage("bad\xffutf8")               // must not panic
	body := scrape(t, m)
	wantLines(t, body,
		`kasa2mqtt_cloud_calls_total{account="home",method="`+strings.Repeat("é", 32)+`",provider="kasa",result="ok"} 1`,
		`kasa2mqtt_cloud_calls_total{account="home",method="a`+strings.Repeat("é", 31)+`",provider="kasa",result="ok"} 1`,
		`kasa2mqtt_mqtt_messages_total{direction="bad`+"\uFFFD"+`utf8"} 1`,
	)
	for _, s := range []string{long, "a" + long, strings.Repeat("x", 200)} {
		if got := label(s); len(got) > MaxLabelLen {
			t.Errorf("label(%q) is %d bytes", s, len(got))
		}
	}
}

func TestMetrics_NilIsNoop(t *testing.T) {
	var m *Metrics
	m.CloudCall("kasa", "home", "passthrough", nil)
	m.Login("kasa", "home", "login")
	m.MQTTMessage("in")
	m.ObservePoll("kasa", "home", time.Second)
	m.SetDevices("kasa", "home", 1)
	m.SetDevicesOnline("kasa", "home", 1)
	m.SetMQTTConnected(true)
	m.SetBuildInfo("v", "c")
}

func TestMetrics_Concurrent(t *testing.T) {
	m := New()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				m.CloudCall("kasa", "home", "passthrough", nil)
				m.MQTTMessage("out")
				m.ObservePoll("kasa", "home", time.Millisecond)
				m.SetDevices("kasa", "home", i)
				m.SetMQTTConnected(i%2 == 0)
				m.SetBuildInfo("v", "c")
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	wg.Wait()
	if got := testutil.ToFloat64(m.cloudCalls.WithLabelValues("kasa", "home", "passthrough", "ok")); got != 800 {
		t.Errorf("cloud calls = %v, want 800", got)
	}
	if got := testutil.CollectAndCount(m.buildInfo); got != 1 {
		t.Errorf("build_info series = %d, want 1", got)
	}
}

// The call counts, the budget left and the poll interval in use, per
// account; an account without a budget has no budget series.
func TestMetrics_CallsBudgetAndInterval(t *testing.T) {
	m := New()
	m.SetCalls("tuya", "garden", 12, 340, 29660)
	m.SetCalls("kasa", "home", 5000, 90000, -1)
	m.SetPollInterval("tuya", "garden", 108*time.Second)
	body := scrape(t, m)
	wantLines(t, body,
		`kasa2mqtt_cloud_calls{account="garden",period="day",provider="tuya"} 12`,
		`kasa2mqtt_cloud_calls{account="garden",period="month",provider="tuya"} 340`,
		`kasa2mqtt_cloud_calls{account="home",period="month",provider="kasa"} 90000`,
		`kasa2mqtt_cloud_budget_remaining{account="garden",provider="tuya"} 29660`,
		`kasa2mqtt_poll_interval_seconds{account="garden",provider="tuya"} 108`,
	)
	if strings.Contains(body, `kasa2mqtt_cloud_budget_remaining{account="home"`) {
		t.Error("an account without a budget has a budget-left series")
	}
}
