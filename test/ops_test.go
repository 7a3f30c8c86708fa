package test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
)

// latestDeviceList returns the entries of the last bridge/devices message
// the recorder saw.
func (h *harness) latestDeviceList() []json.RawMessage {
	var devices []json.RawMessage
	for _, m := range h.rec.all() {
		if m.topic == base+"/bridge/devices" {
			devices = nil
			_ = json.Unmarshal([]byte(m.payload), &devices)
		}
	}
	return devices
}

// opsAddr waits for the daemon's operations endpoint.
func (h *harness) opsAddr() string {
	h.t.Helper()
	select {
	case a := <-h.httpAddr:
		h.httpAddr <- a
		return a
	case <-time.After(waitFor):
		h.t.Fatal("the operations endpoint did not start")
		return ""
	}
}

// get fetches path from the operations endpoint.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.opsAddr() + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// metric returns the value of the sample of name whose labels include
// every "k=v" of labels in a Prometheus text exposition; ok is false when
// there is none.
func metric(exposition, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		all := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !strings.Contains(m[2], k+`="`+v+`"`) {
				all = false
				break
			}
		}
		if all {
			f, err := strconv.ParseFloat(m[3], 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestOps_MetricsCountWhatHappened scripts a run (start, one command, one
// refresh of an offline plug, one that times out, one that gets an HTTP
// 503) and checks the scraped counters against what the fake cloud and the
// MQTT recorder saw.
func TestOps_MetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.Poll.Interval = time.Hour // no polls but the first: exact counts
	h.cfg.Poll.RequestTimeout = 2 * time.Second
	h.cfg.HTTP.Listen = "127.0.0.1:0"
	f := h.addFleet()
	h.start()

	lamp := h.deviceTopic(0, f.lamp)
	for _, id := range append([]string{f.kettle, f.fridge}, f.outlets...) {
		h.rec.waitMsg(0, base+"/"+h.deviceTopic(0, id), nil)
	}
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
	devices := h.latestDeviceList()

	// One command, confirmed by a re-read.
	mk := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))

	// One read of a plug the cloud reports offline.
	h.fake.SetOnline(f.lamp, false)
	if r := h.request("device/refresh", `{"id":"`+f.lamp+`"}`); r.Status == "" {
		t.Fatalf("no response to device/refresh")
	}
	h.rec.waitMsg(mk, base+"/"+lamp+"/availability", contains(`"offline"`))

	// One read that gets no answer within poll.request_timeout, and one
	// that gets an HTTP 503.
	h.fake.Hang(1)
	if r := h.request("device/refresh", `{"id":"`+f.lamp+`"}`); r.Status == "" {
		t.Fatalf("no response to device/refresh")
	}
	h.fake.FailHTTP(1, http.StatusServiceUnavailable)
	if r := h.request("device/refresh", `{"id":"`+f.lamp+`"}`); r.Status == "" {
		t.Fatalf("no response to device/refresh")
	}

	var body string
	eventually(t, "metrics to settle", func() bool {
		_, body = h.get("/metrics")
		v, _ := metric(body, "kasa2mqtt_cloud_calls_total", "method=passthrough", "result=offline")
		to, _ := metric(body, "kasa2mqtt_cloud_calls_total", "method=passthrough", "result=timeout")
		un, _ := metric(body, "kasa2mqtt_cloud_calls_total", "method=passthrough", "result=unavailable")
		return v == 1 && to == 1 && un == 1
	})
	kasa := []string{"provider=kasa", "account=home"}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"kasa2mqtt_logins_total", append(kasa, "kind=login"), 1},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=login", "result=ok"), float64(h.fake.Calls("login"))},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=getDeviceList", "result=ok"), 1},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=passthrough", "result=ok"), float64(h.fake.Calls("passthrough") - 3)},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=passthrough", "result=offline"), 1},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=passthrough", "result=timeout"), 1},
		{"kasa2mqtt_cloud_calls_total", append(kasa, "method=passthrough", "result=unavailable"), 1},
		// In: the command and the requests. Out: everything the recorder
		// saw but did not send itself, below.
		{"kasa2mqtt_mqtt_messages_total", []string{"direction=in"}, 4},
		{"kasa2mqtt_mqtt_connected", nil, 1},
		{"kasa2mqtt_devices", kasa, float64(len(devices))},
		{"kasa2mqtt_devices_online", kasa, float64(len(devices) - 1)},
		{"kasa2mqtt_build_info", []string{"version=dev"}, 1},
	} {
		got, ok := metric(body, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if v, ok := metric(body, "kasa2mqtt_cloud_calls_total", "result=error"); ok {
		t.Errorf("%v calls counted as result=error", v)
	}
	if h.fake.Calls("getDeviceList") != 1 || h.fake.Calls("login") != 1 {
		t.Errorf("fake saw %d lists and %d logins", h.fake.Calls("getDeviceList"), h.fake.Calls("login"))
	}
	if n, ok := metric(body, "kasa2mqtt_poll_duration_seconds_count", kasa...); !ok || n < 1 {
		t.Errorf("poll duration histogram count = %v (present %v)", n, ok)
	}
	eventually(t, "messages out to match what the broker delivered", func() bool {
		_, body = h.get("/metrics")
		out, _ := metric(body, "kasa2mqtt_mqtt_messages_total", "direction=out")
		seen := 0
		for _, m := range h.rec.all() {
			if !strings.HasPrefix(m.topic, base+"/bridge/request/") && !strings.HasSuffix(m.topic, "/set") {
				seen++
			}
		}
		return int(out) == seen
	})
	if len(devices) != 10 {
		t.Errorf("bridge/devices lists %d devices, want 10 (4 plugs and strips, 6 outlets)", len(devices))
	}
}

// TestOps_HealthAndReadiness: /healthz is about the process, /readyz about
// MQTT and the accounts.
func TestOps_HealthAndReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.HTTP.Listen = "127.0.0.1:0"
	h.addFleet()
	h.broker.stop()
	h.start()

	code, body := h.get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "MQTT") {
		t.Errorf("/readyz without a broker = %d %q, want 503 naming MQTT", code, body)
	}
	if code, body := h.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without a broker = %d %q, want 200: the process is fine", code, body)
	}
	h.broker.start()
	eventually(t, "/readyz to turn 200 once the broker is up", func() bool {
		code, _ := h.get("/readyz")
		return code == http.StatusOK
	})
	if code, _ := h.get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
}

// TestOps_WrongPasswordIsReadyButReported: an account stopped on a
// reported, terminal error does not keep the daemon unready (restarting
// would not help).
func TestOps_WrongPasswordIsReadyButReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.HTTP.Listen = "127.0.0.1:0"
	h.addFleet()
	h.kasaSettings(0).Password = "not-the-password"
	h.start()
	eventually(t, "/readyz 200", func() bool {
		code, _ := h.get("/readyz")
		return code == http.StatusOK
	})
	_, body := h.get("/metrics")
	if v, ok := metric(body, "kasa2mqtt_cloud_calls_total", "method=login", "result=auth"); !ok || v != 1 {
		t.Errorf("login calls with result auth = %v (present %v), want 1", v, ok)
	}
	if strings.Contains(body, "not-the-password") {
		t.Error("the password appears in /metrics")
	}
}

// TestOps_SystemdNotify runs the daemon with a fake NOTIFY_SOCKET: READY=1
// once MQTT is connected, watchdog pings while running, STOPPING=1 at the
// end.
func TestOps_SystemdNotify(t *testing.T) {
	if !alone(t) { // it sets NOTIFY_SOCKET for the whole process
		return
	}
	next := fakeNotifySocket(t)
	h := newHarness(t, "mochi")
	h.addFleet()
	h.start()
	next("READY=1")
	h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	h.stop()
	next("STOPPING=1")
}

// TestOps_SystemdRestartIsAReload: a restart requested over MQTT
// re-executes the process in place, which systemd must see as a reload
// (RELOADING=1), never as a stop: after STOPPING=1 it ignores the new
// process's READY=1 and kills it at the stop timeout.
func TestOps_SystemdRestartIsAReload(t *testing.T) {
	if !alone(t) { // it sets NOTIFY_SOCKET for the whole process
		return
	}
	next := fakeNotifySocket(t)
	h := newHarness(t, "mochi")
	h.addFleet()
	h.start()
	next("READY=1")
	mk := h.rec.mark()
	h.rec.publish(base+"/bridge/request/restart", "{}", false)
	h.rec.waitMsg(mk, base+"/bridge/response/restart", contains(`"status":"ok"`))
	if err := <-h.done; !errors.Is(err, daemon.ErrRestart) {
		t.Fatalf("Run returned %v, want ErrRestart", err)
	}
	h.cancel = nil
	line := next("RELOADING=1", "STOPPING=1")
	if line != "RELOADING=1" {
		t.Fatalf("systemd was told %q before the re-exec, want RELOADING=1", line)
	}
	if m := next("MONOTONIC_USEC=*"); m == "" {
		t.Fatal("RELOADING=1 without MONOTONIC_USEC")
	}
}

// fakeNotifySocket (in a test that runs alone: it sets the environment)
// points NOTIFY_SOCKET (with a 300 ms watchdog) at a
// socket of the test and returns a function that waits for one of the
// wanted lines (a trailing '*' matches a prefix) and returns it.
func fakeNotifySocket(t *testing.T) func(want ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "300000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	got := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(got)
				return
			}
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if l != "" {
					select {
					case got <- l:
					default:
					}
				}
			}
		}
	}()
	return func(want ...string) string {
		t.Helper()
		deadline := time.After(waitFor)
		for {
			select {
			case l, ok := <-got:
				if !ok {
					t.Fatalf("socket closed before %v", want)
				}
				for _, w := range want {
					if l == w || strings.HasSuffix(w, "*") && strings.HasPrefix(l, strings.TrimSuffix(w, "*")) {
						return l
					}
				}
			case <-deadline:
				t.Fatalf("none of %v on NOTIFY_SOCKET", want)
				return ""
			}
		}
	}
}

// TestE2E_AttributeOutput: mqtt.output attribute_and_json publishes each
// value on its own retained topic next to the JSON object, for Node-RED and
// shell users, and commands still work.
func TestE2E_AttributeOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.cfg.MQTT.Output = "attribute_and_json"
	f := h.addFleet()
	h.start()
	lamp := h.deviceTopic(0, f.lamp)
	kettle := h.deviceTopic(0, f.kettle)

	h.rec.waitMsg(0, base+"/"+lamp+"/state", func(p string) bool { return p == "OFF" })
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
	h.rec.waitMsg(0, base+"/"+kettle+"/power", func(p string) bool { return p == "1500" })
	late := newRecorder(t, h.broker.url())
	if m := late.waitMsg(0, base+"/"+kettle+"/power", nil); !m.retained || m.payload != "1500" {
		t.Errorf("attribute topic for a new subscriber: %q retained %v, want 1500 retained", m.payload, m.retained)
	}
	h.rec.waitMsg(0, base+"/"+kettle+"/voltage", func(p string) bool {
		v, err := strconv.ParseFloat(p, 64)
		return err == nil && v > 100 && v < 260
	})

	mk := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set/state", "on", false)
	h.rec.waitMsg(mk, base+"/"+lamp+"/state", func(p string) bool { return p == "ON" })
	// The attribute topic is not mistaken for a command topic.
	if h.fake.Relay(f.lamp) != true {
		t.Error("lamp relay is off after ON")
	}
}
