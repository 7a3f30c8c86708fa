package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildDaemon builds ./cmd/kasa2mqtt into dir (the module root is the
// working directory or one of its parents).
func buildDaemon(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kasa2mqtt")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kasa2mqtt")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kasa2mqtt: %w", err)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the benchmark inside the kasa2mqtt module")
	}
	return filepath.Dir(mod), nil
}

// freePort returns a loopback address nobody listens on now.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// daemonConfig is what the configuration file of the daemon under test
// says.
type daemonConfig struct {
	brokerAddr, httpAddr string
	kasaURL, tuyaURL     string
	interval             time.Duration
	stateDir             string
	concurrency          int    // 0: the daemon's default (key not written)
	tuyaBudget           string // "": the daemon's default (key not written)
	pprof                bool
	maxPacket            int  // mqtt.embedded.max_packet_size (0: the daemon's default)
	noPersistence        bool // mqtt.embedded.persistence: false
	external             bool // brokerAddr is an external broker (mqtt.server)
}

func (c daemonConfig) yaml() string {
	var b strings.Builder
	if c.external {
		fmt.Fprintf(&b, "mqtt:\n  client_id: kasa2mqtt-bench\n  server: \"mqtt://%s\"\n", c.brokerAddr)
	} else {
		fmt.Fprintf(&b, "mqtt:\n  client_id: kasa2mqtt-bench\n  embedded:\n    listen: %q\n", c.brokerAddr)
	}
	if c.maxPacket > 0 && !c.external {
		fmt.Fprintf(&b, "    max_packet_size: %d\n", c.maxPacket)
	}
	if c.noPersistence && !c.external {
		b.WriteString("    persistence: false\n")
	}
	b.WriteString("homeassistant:\n  enabled: true\naccounts:\n")
	fmt.Fprintf(&b, "  - provider: kasa\n    name: bench\n    username: %q\n    password: %q\n    url: %q\n", kasaUser, kasaPassword, c.kasaURL)
	if c.tuyaURL != "" {
		fmt.Fprintf(&b, "  - provider: tuya\n    name: bench-tuya\n    access_id: %q\n    access_secret: %q\n    endpoint: %q\n", tuyaID, tuyaSecret, c.tuyaURL)
		if c.tuyaBudget != "" {
			fmt.Fprintf(&b, "    budget: %q\n", c.tuyaBudget)
		}
	}
	fmt.Fprintf(&b, "poll:\n  interval: %s\n", c.interval)
	if c.concurrency > 0 {
		fmt.Fprintf(&b, "  concurrency: %d\n", c.concurrency)
	}
	fmt.Fprintf(&b, "http:\n  listen: %q\n", c.httpAddr)
	if c.pprof {
		b.WriteString("  pprof: true\n")
	}
	fmt.Fprintf(&b, "state_dir: %q\nlog:\n  level: info\n  format: json\n", c.stateDir)
	return b.String()
}

// proc reads a child process's figures from /proc.
type proc struct{ pid int }

// cpu returns the CPU time the process used so far (user + system).
func (p proc) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: the fields start after ") ".
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", p.pid)
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", p.pid)
	}
	// utime and stime are fields 14 and 15 of stat, in clock ticks (100 Hz
	// on Linux: USER_HZ).
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", p.pid)
	}
	return time.Duration(ut+st) * (time.Second / 100), nil
}

// memKB returns a /proc/<pid>/status value in KiB, e.g. "VmHWM" (peak
// RSS) or "VmRSS".
func (p proc) memKB(key string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", p.pid, key)
}

// machine describes the host for the report.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs%s", model, numCPU(), mem)
}

// profileCPU fetches a CPU profile of d from the daemon's operations
// endpoint (http.pprof) into dir/cpu.pprof; it returns when done.
func profileCPU(addr, dir string, d time.Duration) {
	fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), filepath.Join(dir, "cpu.pprof"))
}

// profileStart fetches a CPU profile of the first d after start (as soon
// as the operations endpoint answers) into dir/cpu-start.pprof.
func profileStart(addr, dir string, d time.Duration) {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), filepath.Join(dir, "cpu-start.pprof"))
}

// saveHeap fetches a heap profile into dir/heap.pprof.
func saveHeap(addr, dir string) {
	fetch("http://"+addr+"/debug/pprof/heap", filepath.Join(dir, "heap.pprof"))
	fetch("http://"+addr+"/debug/pprof/goroutine", filepath.Join(dir, "goroutine.pprof"))
}

func fetch(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: pprof:", err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "bench: pprof %s: status %d %v\n", url, resp.StatusCode, err)
		return
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "bench: pprof:", err)
	}
}

// rssSample is one reading of the process's resident memory, in KiB.
type rssSample struct{ rss, anon, file int }

func (s rssSample) String() string {
	return fmt.Sprintf("%.1f MB (anon %.1f, file %.1f)", float64(s.rss)/1024, float64(s.anon)/1024, float64(s.file)/1024)
}

// rss reads VmRSS, RssAnon and RssFile.
func (p proc) rss() (rssSample, error) {
	var s rssSample
	var err error
	if s.rss, err = p.memKB("VmRSS"); err != nil {
		return s, err
	}
	if s.anon, err = p.memKB("RssAnon"); err != nil {
		return s, err
	}
	s.file, err = p.memKB("RssFile")
	return s, err
}

// sampleRSS reads the process's RSS every 50 ms until stop is closed and
// returns the largest sample: what VmHWM does not say is how much of the
// peak was anonymous (the Go heap and stacks) and how much was file pages
// (the binary, the broker's mmapped state file).
func (p proc) sampleRSS(stop <-chan struct{}) <-chan rssSample {
	out := make(chan rssSample, 1)
	go func() {
		var peak rssSample
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := p.rss(); err == nil && s.rss > peak.rss {
				peak = s
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// startMosquitto runs Mosquitto (in PATH or /usr/sbin) on addr, in memory
// only, for -mosquitto: the daemon then runs without its embedded broker.
func startMosquitto(addr, dir string) (stop func(), err error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s %s\nallow_anonymous true\npersistence false\n", port, host)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	for range 100 { // until it listens
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}
