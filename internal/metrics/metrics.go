// Package metrics exposes kasa2mqtt's Prometheus metrics.
//
// A Metrics owns its own prometheus.Registry (never the global default), so
// several daemons in one process (as in the end-to-end tests) do not collide.
// It implements bridge.Metrics, cloud.Observer and cloud.PushObserver; the
// daemon passes it to the bridge and to every provider, and serves Handler
// on /metrics.
//
// Metrics exported (all names carry the kasa2mqtt_ prefix, besides the
// standard go_* and process_* metrics of the Go and process collectors):
//
//   - kasa2mqtt_cloud_calls_total{provider,account,method,result} (counter):
//     HTTP calls to a vendor cloud. method is the vendor method or API path
//     template ("passthrough", "GET /v1.0/iot-03/devices/status"), cut to
//     64 bytes. result is "ok" or the error class: "auth", "offline",
//     "rate_limited", "unknown_device", "unsupported", "refused" (the cloud
//     sentinel errors), "timeout" (no answer within poll.request_timeout,
//     cloud.ErrTimeout, or another deadline), "unavailable" (an HTTP 5xx
//     status, a network error or a busy cloud: cloud.ErrUnavailable),
//     "canceled" (context canceled, usually shutdown) or "error" (anything
//     else).
//   - kasa2mqtt_logins_total{provider,account,kind} (counter): successful
//     logins (kind "login") and token refreshes (kind "refresh").
//   - kasa2mqtt_poll_duration_seconds{provider,account} (histogram): time
//     of one state read of a poll (one device, or one batch of devices,
//     as the provider groups them); buckets from 10ms to 60s.
//   - kasa2mqtt_poll_interval_seconds{provider,account} (gauge): the
//     interval the account's devices are read at (poll.interval, or
//     longer when the call budget or a full cycle of reads needs it).
//   - kasa2mqtt_cloud_calls{provider,account,period} (gauge): cloud calls
//     made this UTC "day" and "month" (every call, counted across
//     restarts).
//   - kasa2mqtt_cloud_budget_remaining{provider,account} (gauge): calls
//     left of the account's budget this period; absent without a budget.
//   - kasa2mqtt_mqtt_messages_total{direction} (counter): MQTT messages
//     received ("in") and published ("out").
//   - kasa2mqtt_devices{provider,account} (gauge): devices bridged.
//   - kasa2mqtt_devices_online{provider,account} (gauge): of those, the
//     devices the cloud reports online.
//   - kasa2mqtt_mqtt_connected (gauge): 1 while connected to the broker,
//     else 0.
//   - kasa2mqtt_build_info{version,commit} (gauge): constant 1, present
//     once SetBuildInfo has been called.
//   - kasa2mqtt_push_frames_total{provider,account,protocol,result}
//     (counter): frames received on the providers' push connections, by
//     the vendor's protocol number ("none" when unreadable) and result
//     (applied, duplicate, ignored, decrypt_error, parse_error).
//   - kasa2mqtt_push_reconnects_total{provider,account} (counter): push
//     connections after the first.
//   - kasa2mqtt_push_seconds_since_last_frame{provider,account} (gauge):
//     seconds since the push connection last received a frame or a
//     keep-alive answer, computed at scrape time (absent until the first
//     one).
//
// Every label value is made valid UTF-8 and cut to 64 bytes, so a caller
// can neither make an update panic nor blow up the series count with long
// strings.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Compile-time checks that Metrics fits the interfaces it is passed as.
var (
	_ bridge.Metrics = (*Metrics)(nil)
	_ cloud.Observer = (*Metrics)(nil)
)

// Namespace prefixes every kasa2mqtt metric name.
const Namespace = "kasa2mqtt"

// MaxLabelLen is the longest label value kept, in bytes; longer values are
// cut at a rune boundary.
const MaxLabelLen = 64

// Results of kasa2mqtt_cloud_calls_total besides the error classes of
// ErrorClass.
const (
	ResultOK = "ok"
)

// PollBuckets are the kasa2mqtt_poll_duration_seconds buckets, in seconds:
// 10ms to 60s.
var PollBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// Metrics records kasa2mqtt's metrics. Create it with New. All methods are
// safe for concurrent use, never block on I/O, and are no-ops on a nil
// *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	cloudCalls     *prometheus.CounterVec
	logins         *prometheus.CounterVec
	pollDuration   *prometheus.HistogramVec
	mqttMessages   *prometheus.CounterVec
	devices        *prometheus.GaugeVec
	devicesOnline  *prometheus.GaugeVec
	pollInterval   *prometheus.GaugeVec
	calls          *prometheus.GaugeVec
	budgetLeft     *prometheus.GaugeVec
	mqttConnected  prometheus.Gauge
	buildInfo      *prometheus.GaugeVec
	pushFrames     *prometheus.CounterVec
	pushReconnects *prometheus.CounterVec
	pushLast       *pushLast

	buildMu sync.Mutex // serialises SetBuildInfo's reset and set
}

// New returns a Metrics with its own registry, holding the kasa2mqtt
// metrics plus the standard Go runtime and process collectors.
// kasa2mqtt_mqtt_connected starts at 0; kasa2mqtt_build_info is absent
// until SetBuildInfo.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		cloudCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "cloud_calls_total",
			Help:      "HTTP calls to a vendor cloud, by method and result (ok or an error class).",
		}, []string{"provider", "account", "method", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "logins_total",
			Help:      "Successful cloud logins (kind=login) and token refreshes (kind=refresh).",
		}, []string{"provider", "account", "kind"}),
		pollDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "poll_duration_seconds",
			Help:      "Time to poll the device states of one cloud account.",
			Buckets:   PollBuckets,
		}, []string{"provider", "account"}),
		mqttMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "mqtt_messages_total",
			Help:      "MQTT messages received (direction=in) and published (direction=out).",
		}, []string{"direction"}),
		devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "devices",
			Help:      "Devices bridged, per cloud account.",
		}, []string{"provider", "account"}),
		devicesOnline: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "devices_online",
			Help:      "Bridged devices the cloud reports online, per cloud account.",
		}, []string{"provider", "account"}),
		pollInterval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "poll_interval_seconds",
			Help:      "The interval an account's devices are read at (stretched by the call budget or a long cycle).",
		}, []string{"provider", "account"}),
		calls: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "cloud_calls",
			Help:      "Cloud calls made this UTC day and month (period), across restarts.",
		}, []string{"provider", "account", "period"}),
		budgetLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "cloud_budget_remaining",
			Help:      "Calls left of the account's call budget this period.",
		}, []string{"provider", "account"}),
		mqttConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "mqtt_connected",
			Help:      "1 while connected to the MQTT broker, else 0.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "build_info",
			Help:      "Constant 1, labelled with the version and commit of the running binary.",
		}, []string{"version", "commit"}),
		pushFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "push_frames_total",
			Help:      "Frames of the providers' push connections, by protocol and result (applied, duplicate, ignored, decrypt_error, parse_error).",
		}, []string{"provider", "account", "protocol", "result"}),
		pushReconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "push_reconnects_total",
			Help:      "Push connections made after the first, per cloud account.",
		}, []string{"provider", "account"}),
		pushLast: newPushLast(),
	}
	m.reg.MustRegister(
		m.pushFrames, m.pushReconnects, m.pushLast,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.cloudCalls, m.logins, m.pollDuration, m.mqttMessages,
		m.devices, m.devicesOnline, m.mqttConnected, m.buildInfo,
		m.pollInterval, m.calls, m.budgetLeft,
	)
	return m
}

// Registry returns the registry holding every metric, for tests or to
// register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector error is served along with the metrics that did work, rather
// than failing the whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// SetBuildInfo sets kasa2mqtt_build_info{version,commit} to 1, replacing
// the series of an earlier call. An empty commit is exported as "unknown".
func (m *Metrics) SetBuildInfo(version, commit string) {
	if m == nil {
		return
	}
	if commit == "" {
		commit = "unknown"
	}
	m.buildMu.Lock()
	defer m.buildMu.Unlock()
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(label(version), label(commit)).Set(1)
}

// CloudCall counts one vendor cloud call (cloud.Observer).
func (m *Metrics) CloudCall(provider, account, method string, err error) {
	if m == nil {
		return
	}
	m.cloudCalls.WithLabelValues(label(provider), label(account), label(method), ErrorClass(err)).Inc()
}

// Login counts a successful login or token refresh (cloud.Observer).
func (m *Metrics) Login(provider, account, kind string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(label(provider), label(account), label(kind)).Inc()
}

// MQTTMessage counts one MQTT message; direction is "in" or "out"
// (bridge.Metrics).
func (m *Metrics) MQTTMessage(direction string) {
	if m == nil {
		return
	}
	m.mqttMessages.WithLabelValues(label(direction)).Inc()
}

// ObservePoll records how long one poll of an account took (bridge.Metrics).
func (m *Metrics) ObservePoll(provider, account string, d time.Duration) {
	if m == nil {
		return
	}
	m.pollDuration.WithLabelValues(label(provider), label(account)).Observe(d.Seconds())
}

// SetPollInterval records an account's effective poll interval
// (bridge.Metrics).
func (m *Metrics) SetPollInterval(provider, account string, d time.Duration) {
	if m == nil {
		return
	}
	m.pollInterval.WithLabelValues(label(provider), label(account)).Set(d.Seconds())
}

// SetCalls records an account's calls this UTC day and month and what is
// left of its budget; left < 0 means it has none (bridge.Metrics).
func (m *Metrics) SetCalls(provider, account string, day, month, left int) {
	if m == nil {
		return
	}
	p, a := label(provider), label(account)
	m.calls.WithLabelValues(p, a, "day").Set(float64(day))
	m.calls.WithLabelValues(p, a, "month").Set(float64(month))
	if left < 0 {
		m.budgetLeft.DeleteLabelValues(p, a)
		return
	}
	m.budgetLeft.WithLabelValues(p, a).Set(float64(left))
}

// SetDevices sets the number of devices bridged for an account
// (bridge.Metrics).
func (m *Metrics) SetDevices(provider, account string, n int) {
	if m == nil {
		return
	}
	m.devices.WithLabelValues(label(provider), label(account)).Set(float64(n))
}

// SetDevicesOnline sets the number of an account's devices that are online
// (bridge.Metrics).
func (m *Metrics) SetDevicesOnline(provider, account string, n int) {
	if m == nil {
		return
	}
	m.devicesOnline.WithLabelValues(label(provider), label(account)).Set(float64(n))
}

// SetMQTTConnected records whether the broker connection is up
// (bridge.Metrics).
func (m *Metrics) SetMQTTConnected(connected bool) {
	if m == nil {
		return
	}
	v := 0.0
	if connected {
		v = 1
	}
	m.mqttConnected.Set(v)
}

// ErrorClass maps a cloud call's error to the result label of
// kasa2mqtt_cloud_calls_total: "ok" for nil, the class of a cloud sentinel
// error, "timeout" for cloud.ErrTimeout or another deadline, "unavailable"
// for any other cloud.ErrUnavailable, "canceled" for a canceled context,
// and "error" for anything else. The sentinels that say what to do (auth,
// offline, rate limit, …) win over ErrTimeout, ErrTimeout over
// ErrUnavailable (which it wraps), and all of them over the context errors.
func ErrorClass(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, cloud.ErrAuth):
		return "auth"
	case errors.Is(err, cloud.ErrDeviceOffline):
		return "offline"
	case errors.Is(err, cloud.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, cloud.ErrUnknownDevice):
		return "unknown_device"
	case errors.Is(err, cloud.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, cloud.ErrRefused):
		return "refused"
	case errors.Is(err, cloud.ErrTimeout):
		return "timeout"
	case errors.Is(err, cloud.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}

// label makes s a valid label value: valid UTF-8, at most MaxLabelLen
// bytes, cut at a rune boundary.
func label(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= MaxLabelLen {
		return s
	}
	cut := MaxLabelLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
