package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

var _ cloud.PushObserver = (*Metrics)(nil)

// pushLast remembers when each account's push connection last received
// something and serves kasa2mqtt_push_seconds_since_last_frame from it at
// scrape time. Safe for concurrent use.
type pushLast struct {
	desc *prometheus.Desc

	mu sync.Mutex
	at map[[2]string]time.Time // by label(provider), label(account)
}

func newPushLast() *pushLast {
	return &pushLast{
		desc: prometheus.NewDesc(Namespace+"_push_seconds_since_last_frame",
			"Seconds since the push connection last received a frame or a keep-alive answer.",
			[]string{"provider", "account"}, nil),
		at: map[[2]string]time.Time{},
	}
}

// Describe and Collect serve kasa2mqtt_push_seconds_since_last_frame.
func (p *pushLast) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *pushLast) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for k, at := range p.at {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, max(0, now.Sub(at).Seconds()), k[0], k[1])
	}
}

// set records at for an account; get returns what was recorded (zero if
// nothing).
func (p *pushLast) set(provider, account string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at[[2]string{label(provider), label(account)}] = at
}

func (p *pushLast) get(provider, account string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at[[2]string{label(provider), label(account)}]
}

// PushFrame counts one pushed frame (cloud.PushObserver).
func (m *Metrics) PushFrame(provider, account, protocol, result string) {
	if m == nil {
		return
	}
	m.pushFrames.WithLabelValues(label(provider), label(account), label(protocol), label(result)).Inc()
}

// PushReconnect counts one reconnection of a push connection
// (cloud.PushObserver).
func (m *Metrics) PushReconnect(provider, account string) {
	if m == nil {
		return
	}
	m.pushReconnects.WithLabelValues(label(provider), label(account)).Inc()
}

// PushReceived records when a push connection last received something
// (cloud.PushObserver).
func (m *Metrics) PushReceived(provider, account string, at time.Time) {
	if m == nil {
		return
	}
	m.pushLast.set(provider, account, at)
}

// PushLastReceived returns when the push connection of an account last
// received something, as reported to PushReceived (zero if never).
func (m *Metrics) PushLastReceived(provider, account string) time.Time {
	if m == nil {
		return time.Time{}
	}
	return m.pushLast.get(provider, account)
}
