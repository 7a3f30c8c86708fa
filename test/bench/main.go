// Command bench measures the real daemon at scale: it fills the fake Kasa
// (and Tuya) clouds with many devices on loopback, runs kasa2mqtt (built
// from this checkout, in a child process, with its embedded broker)
// against them, watches it as Home Assistant would, and prints one
// Markdown table row:
//
//   - start → discovery: from starting the process until the discovery of
//     every bridged device (and of the bridge) was received;
//   - start → states: until every device's state was received;
//   - RSS peak: the process's VmHWM at the end;
//   - CPU: the process's CPU time over a steady-state window (after the
//     first full poll and one more interval), as a share of one core;
//   - calls per device per poll, by provider: state-read calls the fakes
//     received in that window ÷ physical devices ÷ polls in the window;
//   - /set → cloud p50/p99: from publishing a command on a plug's /set topic
//     until the fake cloud received the relay command;
//   - floor: the same state-read requests (as recorded by the fakes) sent
//     by a bare keep-alive HTTP client, paced over the same window, in a
//     child process of its own; bridge ÷ floor is the ratio of CPU times;
//   - unavailable: devices whose availability was not online at the end.
//
// It is a benchmark, not a test: nothing fails on a target. Usage:
//
//	go run ./test/bench -devices 2000
//	go run ./test/bench -devices 1000 -tuya 1000 -tuya-budget none
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type options struct {
	devices, tuya int
	interval      time.Duration
	window        time.Duration
	latency       time.Duration
	sets          int
	daemon        string
	concurrency   int
	tuyaBudget    string
	keep          bool
	pprof         bool
	header        bool
	maxPacket     int
	persistence   bool
	env           string
	mosquitto     bool
}

func main() {
	if path := os.Getenv(floorEnv); path != "" {
		runFloor(path)
		return
	}
	var o options
	flag.IntVar(&o.devices, "devices", 2000, "Kasa physical devices (15 % of them six-outlet HS300 strips)")
	flag.IntVar(&o.tuya, "tuya", 0, "Tuya physical devices (15 % of them three-gang strips)")
	flag.DurationVar(&o.interval, "interval", 30*time.Second, "poll.interval")
	flag.DurationVar(&o.window, "window", 0, "steady-state measuring window (default: two intervals)")
	flag.DurationVar(&o.latency, "latency", 0, "the fake clouds' delay per request")
	flag.IntVar(&o.sets, "sets", 200, "commands sent to measure /set → cloud")
	flag.StringVar(&o.daemon, "daemon", "", "a kasa2mqtt binary to run (default: build ./cmd/kasa2mqtt)")
	flag.IntVar(&o.concurrency, "concurrency", 0, "poll.concurrency (default: the daemon's)")
	flag.StringVar(&o.tuyaBudget, "tuya-budget", "", "budget of the Tuya account (default: the daemon's)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (config, log, state)")
	flag.BoolVar(&o.pprof, "pprof", false, "enable http.pprof and save heap and CPU profiles in the working directory")
	flag.BoolVar(&o.header, "header", true, "print the table header")
	flag.IntVar(&o.maxPacket, "max-packet", 0, "mqtt.embedded.max_packet_size (0: the daemon's default, 8 MiB)")
	flag.BoolVar(&o.persistence, "persistence", true, "mqtt.embedded.persistence (the embedded broker keeps retained messages and sessions on disk, written in 100 ms batches)")
	flag.StringVar(&o.env, "env", "", "environment variables for the daemon only, space-separated (e.g. \"GOMEMLIMIT=64MiB GOGC=50\")")
	flag.BoolVar(&o.mosquitto, "mosquitto", false, "run the daemon against Mosquitto (started by the benchmark, not measured) instead of its embedded broker: the daemon's own share")
	flag.Parse()
	if o.window <= 0 {
		o.window = 2 * o.interval
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one row of the table.
type result struct {
	devices, entities        int
	discovery, states        time.Duration
	rssPeakKB                int
	cpu                      float64 // share of one core
	kasaPerPoll, tuyaPerPoll float64
	setP50, setP99           time.Duration
	setsSeen                 int
	floorCPU                 float64
	unavailable              int
	logLines                 int
	intervals                string
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "kasa2mqtt-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "bench: working directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.daemon
	if bin == "" {
		fmt.Fprintln(os.Stderr, "bench: building ./cmd/kasa2mqtt")
		if bin, err = buildDaemon(dir); err != nil {
			return err
		}
	}
	c := startClouds(o.devices, o.tuya, o.latency)
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.fluctuate(ctx)

	cfg := daemonConfig{brokerAddr: freePort(), httpAddr: freePort(), kasaURL: c.kasa.URL(), interval: o.interval,
		stateDir: filepath.Join(dir, "state"), concurrency: o.concurrency, tuyaBudget: o.tuyaBudget, pprof: o.pprof,
		maxPacket: o.maxPacket, noPersistence: !o.persistence, external: o.mosquitto}
	if o.mosquitto {
		stopBroker, err := startMosquitto(cfg.brokerAddr, dir)
		if err != nil {
			return err
		}
		defer stopBroker()
	}
	if c.tuya != nil {
		cfg.tuyaURL = c.tuya.URL()
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.yaml()), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	fmt.Fprintf(os.Stderr, "bench: %d Kasa + %d Tuya devices (%d entities), interval %s\n", o.devices, o.tuya, c.entities, o.interval)
	cmd := exec.Command(bin, "run", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if o.env != "" {
		cmd.Env = append(os.Environ(), strings.Fields(o.env)...)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	defer stop()
	p := proc{pid: cmd.Process.Pid}
	stopSampling := make(chan struct{})
	peak := p.sampleRSS(stopSampling)
	r := result{devices: o.devices + o.tuya, entities: c.entities}

	if o.pprof {
		go profileStart(cfg.httpAddr, dir, 6*time.Second)
	}
	w, err := watch(cfg.brokerAddr, start.Add(time.Minute))
	if err != nil {
		return err
	}
	defer w.close()
	limit := start.Add(2*time.Minute + 4*o.interval)
	last, ok := w.waitCount(c.entities+1, false, limit)
	r.discovery = reached(last, ok, start)
	n, _ := w.counts()
	fmt.Fprintf(os.Stderr, "bench: %d of %d discovery topics after %s\n", n, c.entities+1, since(start, last, ok))
	last, ok = w.waitCount(c.entities-c.stateless, true, limit)
	r.states = reached(last, ok, start)
	_, n = w.counts()
	fmt.Fprintf(os.Stderr, "bench: %d of %d states after %s; warming up for %s\n", n, c.entities-c.stateless, since(start, last, ok), o.interval)
	time.Sleep(o.interval)

	// The steady-state window.
	c.forget()
	cpu0, err := p.cpu()
	if err != nil {
		return err
	}
	calls0, t0 := c.readCalls(), time.Now()
	fmt.Fprintf(os.Stderr, "bench: measuring for %s\n", o.window)
	if o.pprof {
		go profileCPU(cfg.httpAddr, dir, min(o.window-time.Second, 25*time.Second)) // within the endpoint's write timeout
	}
	time.Sleep(o.window)
	cpu1, err := p.cpu()
	if err != nil {
		return err
	}
	calls1, elapsed := c.readCalls(), time.Since(t0)
	r.cpu = float64(cpu1-cpu0) / float64(elapsed)
	polls := float64(elapsed) / float64(o.interval)
	r.kasaPerPoll = float64(calls1.kasa-calls0.kasa) / float64(o.devices) / polls
	if o.tuya > 0 {
		r.tuyaPerPoll = float64(calls1.tuya-calls0.tuya) / float64(o.tuya) / polls
	}
	spec := floorFrom(c, calls1.kasa-calls0.kasa, calls1.tuya-calls0.tuya, elapsed, o.concurrency)
	if o.pprof {
		saveHeap(cfg.httpAddr, dir)
	}

	if err := measureSets(c, w, o.sets, &r); err != nil {
		return err
	}
	r.unavailable = w.offline()
	r.intervals = w.intervals()
	if r.rssPeakKB, err = p.memKB("VmHWM"); err != nil {
		return err
	}
	close(stopSampling)
	if end, err := p.rss(); err == nil {
		fmt.Fprintf(os.Stderr, "bench: RSS at the end %s; largest sample %s\n", end, <-peak)
	}
	stop()
	r.logLines = countLines(logFile.Name())

	fmt.Fprintf(os.Stderr, "bench: floor client for %s\n", elapsed.Round(time.Second))
	if r.floorCPU, err = runFloorChild(spec, dir); err != nil {
		return err
	}
	r.print(o, os.Stdout)
	return nil
}

// measureSets sends n commands to random plugs, one every 50 ms, and
// takes the time until the fake cloud received each.
func measureSets(c *clouds, w *watcher, n int, r *result) error {
	plugs := w.plugs()
	var all []bridgeDevice
	for _, list := range plugs {
		all = append(all, list...)
	}
	if len(all) == 0 || n == 0 {
		return nil
	}
	c.forget()
	type sent struct {
		d  bridgeDevice
		at time.Time
	}
	var sends []sent
	for i := range n {
		d := all[rand.N(len(all))]
		payload := "ON"
		if i%2 == 1 {
			payload = "OFF"
		}
		at := time.Now()
		if err := w.publish(baseTopic+"/"+d.Topic+"/set", payload); err != nil {
			return err
		}
		sends = append(sends, sent{d, at})
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	var lat []time.Duration
	for _, s := range sends {
		if got, ok := c.commandArrival(s.d.Provider, s.d.ID, s.at); ok {
			lat = append(lat, got.Sub(s.at))
		}
	}
	r.setsSeen = len(lat)
	if len(lat) == 0 {
		return nil
	}
	slices.Sort(lat)
	r.setP50 = lat[len(lat)/2]
	r.setP99 = lat[min(len(lat)-1, len(lat)*99/100)]
	return nil
}

// floorFrom builds the floor client's work from the requests the fakes
// recorded in the window.
func floorFrom(c *clouds, kasaCalls, tuyaCalls int, window time.Duration, conc int) floorSpec {
	s := floorSpec{Window: window, Concurrency: max(conc, 4), KasaURL: c.kasa.URL(), KasaCalls: kasaCalls}
	for _, r := range c.kasa.Requests() {
		if r.Method == "passthrough" && r.DeviceID != "" {
			s.KasaReads = append(s.KasaReads, kasaRead{DeviceID: r.DeviceID, RequestData: r.RequestData})
		}
	}
	if len(s.KasaReads) == 0 {
		s.KasaCalls = 0
	}
	if c.tuya != nil {
		s.TuyaURL, s.TuyaCalls = c.tuya.URL(), tuyaCalls
		for _, r := range c.tuya.Requests() {
			if r.Path == tuyaStatusPath && len(r.Query["device_ids"]) > 0 {
				s.TuyaBatches = append(s.TuyaBatches, r.Query["device_ids"][0])
			}
		}
		if len(s.TuyaBatches) == 0 {
			s.TuyaCalls = 0
		}
	}
	return s
}

// runFloorChild runs the floor client in a child process and returns its
// CPU time as a share of one core over the window.
func runFloorChild(s floorSpec, dir string) (float64, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "floor.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), floorEnv+"="+path)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("floor client: %w", err)
	}
	u := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return float64(u) / float64(max(time.Since(start), s.Window)), nil
}

func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n := 0
	for _, b := range data {
		if b == '\n' {
			n++
		}
	}
	return n
}

// reached is the time from start to last, or -(time until now) when the
// wait gave up.
func reached(last time.Time, ok bool, start time.Time) time.Duration {
	if !ok {
		return -time.Since(start)
	}
	return last.Sub(start)
}

func since(start, last time.Time, ok bool) string {
	if !ok {
		return "giving up at " + time.Since(start).Round(time.Second).String()
	}
	return last.Sub(start).Round(time.Millisecond).String()
}

// took renders a reached duration ("> d" when not reached).
func took(d time.Duration) string {
	if d < 0 {
		return "> " + (-d).Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func numCPU() int { return runtime.NumCPU() }

func (r result) print(o options, out *os.File) {
	if o.header {
		fmt.Fprintf(out, "\n%s, %s, %s\n\n", time.Now().UTC().Format(time.DateOnly), machine(), runtime.Version())
		fmt.Fprintln(out, "| devices (entities) | start → discovery | start → states | RSS peak | CPU (1 core) | calls/device/poll kasa · tuya | /set → cloud p50 · p99 | floor CPU | bridge ÷ floor | unavailable | log lines | interval in use |")
		fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	}
	devs := fmt.Sprintf("%d", o.devices)
	if o.tuya > 0 {
		devs = fmt.Sprintf("%d + %d Tuya", o.devices, o.tuya)
	}
	if o.mosquitto {
		devs += ", Mosquitto"
	}
	tuya := "–"
	if o.tuya > 0 {
		tuya = fmt.Sprintf("%.3f", r.tuyaPerPoll)
	}
	ratio := "–"
	if r.floorCPU > 0 {
		ratio = fmt.Sprintf("%.1f", r.cpu/r.floorCPU)
	}
	iv := r.intervals
	if iv == "" {
		iv = "–"
	}
	fmt.Fprintf(out, "| %s (%d) | %s | %s | %.1f MB | %.2f %% | %.2f · %s | %s · %s (%d/%d) | %.2f %% | %s | %d | %d | %s |\n",
		devs, r.entities, took(r.discovery), took(r.states),
		float64(r.rssPeakKB)/1024, 100*r.cpu, r.kasaPerPoll, tuya, ms(r.setP50), ms(r.setP99), r.setsSeen, o.sets,
		100*r.floorCPU, ratio, r.unavailable, r.logLines, iv)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
