package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var _ cloud.PushObserver = (*Metrics)(nil)

// pushMetrics are the metrics of the providers' push connections:
//
//   - kasa2mqtt_push_frames_total{provider,account,protocol,result}
//     (counter): frames received, by the vendor's protocol number ("none"
//     when unreadable) and result (applied, duplicate, ignored,
//     decrypt_error, parse_error);
//   - kasa2mqtt_push_reconnects_total{provider,account} (counter):
//     connections after the first;
//   - kasa2mqtt_push_seconds_since_last_frame{provider,account} (gauge):
//     seconds since the last frame or keep-alive answer, computed at
//     scrape time (absent until the first one).
type pushMetrics struct {
	frames     *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	sinceDesc  *prometheus.Desc

	mu   sync.Mutex
	last map[[2]string]time.Time
}

func newPushMetrics() *pushMetrics {
	return &pushMetrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "push_frames_total",
			Help:      "Frames of the providers' push connections, by protocol and result (applied, duplicate, ignored, decrypt_error, parse_error).",
		}, []string{"provider", "account", "protocol", "result"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "push_reconnects_total",
			Help:      "Push connections made after the first, per cloud account.",
		}, []string{"provider", "account"}),
		sinceDesc: prometheus.NewDesc(Namespace+"_push_seconds_since_last_frame",
			"Seconds since the push connection last received a frame or a keep-alive answer.",
			[]string{"provider", "account"}, nil),
		last: map[[2]string]time.Time{},
	}
}

// Describe and Collect serve kasa2mqtt_push_seconds_since_last_frame.
func (p *pushMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- p.sinceDesc }

func (p *pushMetrics) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for k, at := range p.last {
		ch <- prometheus.MustNewConstMetric(p.sinceDesc, prometheus.GaugeValue, max(0, now.Sub(at).Seconds()), k[0], k[1])
	}
}

// PushFrame counts one pushed frame (cloud.PushObserver).
func (m *Metrics) PushFrame(provider, account, protocol, result string) {
	if m == nil {
		return
	}
	m.push.frames.WithLabelValues(label(provider), label(account), label(protocol), label(result)).Inc()
}

// PushReconnect counts one reconnection of a push connection
// (cloud.PushObserver).
func (m *Metrics) PushReconnect(provider, account string) {
	if m == nil {
		return
	}
	m.push.reconnects.WithLabelValues(label(provider), label(account)).Inc()
}

// PushReceived records when a push connection last received something
// (cloud.PushObserver).
func (m *Metrics) PushReceived(provider, account string, at time.Time) {
	if m == nil {
		return
	}
	m.push.mu.Lock()
	defer m.push.mu.Unlock()
	m.push.last[[2]string{label(provider), label(account)}] = at
}

// PushLastReceived returns when the push connection of an account last
// received something, as reported to PushReceived (zero if never).
func (m *Metrics) PushLastReceived(provider, account string) time.Time {
	if m == nil {
		return time.Time{}
	}
	m.push.mu.Lock()
	defer m.push.mu.Unlock()
	return m.push.last[[2]string{label(provider), label(account)}]
}
