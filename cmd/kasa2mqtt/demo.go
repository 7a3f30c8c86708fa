package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/daemon"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
)

// Demo account on the simulated cloud.
const (
	demoUser       = "demo@example.com"
	demoPassword   = "demo-password"
	demoTuyaID     = "demo0access0id00tuya"
	demoTuyaSecret = "demo0access0secret0000000000tuya"
)

// demoCmd runs the real daemon against the fake Kasa clouds (V1, and V2
// with a two-step verification account; the same fakes the tests use) and
// the fake Tuya cloud, with the embedded broker, so anyone can see the
// topics, Home Assistant discovery and the 2FA login without an account.
func demoCmd(ctx context.Context, e env) int {
	fs := newFlags("demo", e)
	listen := fs.String("listen", "127.0.0.1:1883", "address of the embedded MQTT broker")
	interval := fs.Duration("interval", 5*time.Second, "poll interval")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	httpAddr := fs.String("http", defaultHealthListen, `address of the operations endpoint (/healthz, /readyz, /metrics); "" turns it off`)
	if code, ok := parseFlags(fs, e.args); !ok {
		return code
	}
	if *interval < 5*time.Second {
		fmt.Fprintln(e.stderr, "kasa2mqtt demo: -interval must be at least 5s")
		return exitUsage
	}
	stateDir, err := os.MkdirTemp("", "kasa2mqtt-demo-")
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt demo: %v\n", err)
		return exitError
	}
	defer os.RemoveAll(stateDir)

	fake := kasatest.NewServer()
	defer fake.Close()
	fake.AddAccount(demoUser, demoPassword)
	fake.AddPlug(demoUser, "Living Room Lamp", "HS103(US)")
	kettle := fake.AddMeteredPlug(demoUser, "Kettle", "KP115(US)", true)
	fridge := fake.AddMeteredPlug(demoUser, "Fridge", "HS110(EU)", false)
	_, outlets := fake.AddStrip(demoUser, "Desk Strip", "HS300(US)", 6, true)
	fake.SetPower(kettle, 1800)
	fake.SetPower(fridge, 85)
	fake.SetRelay(fridge, true)
	for i, id := range outlets {
		fake.SetPower(id, float64(10*(i+1)))
		fake.SetRelay(id, i%2 == 0)
	}
	// Lights: a wall dimmer and a colour bulb, on.
	dimmer := fake.AddDimmer(demoUser, "Hall Dimmer", "HS220(US)")
	fake.SetLight(dimmer, kasatest.LightInfo{On: true, Brightness: 40})
	bulb := fake.AddBulb(demoUser, "Reading Lamp", "KL130(US)", true, true)
	fake.SetLight(bulb, kasatest.LightInfo{On: true, Brightness: 80, ColorTemp: 2700})
	go simulate(ctx, fake, append([]string{fridge}, outlets...))

	// A Tuya cloud project beside it: a metered plug, a 2-gang strip and a
	// colour light, on in orange.
	tfake := tuyatest.NewServer()
	defer tfake.Close()
	tfake.AddProject(demoTuyaID, demoTuyaSecret)
	heater := tfake.AddPlug(demoTuyaID, "Heater", true)
	tfake.AddStrip(demoTuyaID, "Garage Strip", 2)
	tfake.SetSwitch(heater, "switch_1", true)
	tfake.SetPower(heater, 850)
	patio := tfake.AddLight(demoTuyaID, "Patio Light", tuyatest.ColourLight)
	tfake.SetDP(patio, "switch_led", true)
	tfake.SetDP(patio, "work_mode", "colour")
	tfake.SetDP(patio, "colour_data_v2", map[string]int{"h": 30, "s": 800, "v": 700})
	go simulateTuya(ctx, tfake, heater)

	// A Kasa account with two-step verification on the V2 API.
	v2, v2Account, err := startDemoV2(stateDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt demo: %v\n", err)
		return exitError
	}
	defer v2.fake.Close()
	go v2.printCodes(ctx, e.stdout)

	cfg := config.Default()
	cfg.MQTT.Embedded.Listen = *listen
	cfg.Accounts = []config.Account{
		{Provider: kasa.ProviderKind, Name: "demo", Settings: &kasa.Config{Username: demoUser, Password: demoPassword, URL: fake.URL()}},
		{Provider: tuya.ProviderKind, Name: "demo-tuya", Budget: "none", Settings: &tuya.Config{AccessID: demoTuyaID, AccessSecret: demoTuyaSecret,
			Endpoint: tfake.URL(), Auth: tuya.AuthSimple, Push: tuya.PushOn, PushURL: tfake.PushURL()}},
		v2Account,
	}
	cfg.HTTP.Listen = *httpAddr
	cfg.Poll.Interval = *interval
	cfg.Poll.DeviceListInterval = time.Minute
	cfg.StateDir = stateDir
	cfg.Log.Level = *level
	cfg.FillAccountDefaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt demo: %v\n", err)
		return exitError
	}
	log, err := logging.SimpleLogger(cfg.Log.Level, cfg.Log.Format, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt demo: %v\n", err)
		return exitUsage
	}
	m := &daemon.Main{
		Config:     &cfg,
		Logger:     log,
		HTTPClient: fake.Client(),
		OnBrokerStarted: func(addr string) {
			fmt.Fprintf(e.stdout, `
%[5]s

  Watch everything:   mosquitto_sub -h %[2]s -p %[3]s -t 'kasa2mqtt/#' -v
  Switch the lamp:    mosquitto_pub -h %[2]s -p %[3]s -t kasa2mqtt/living_room_lamp/set -m ON
  Toggle an outlet:   mosquitto_pub -h %[2]s -p %[3]s -t kasa2mqtt/<outlet topic>/set -m TOGGLE
  Dim the hall:       mosquitto_pub -h %[2]s -p %[3]s -t kasa2mqtt/hall_dimmer/set/brightness -m 200
  Colour the bulb:    mosquitto_pub -h %[2]s -p %[3]s -t kasa2mqtt/reading_lamp/set -m '{"color":{"h":240,"s":100}}'
  Warm the patio:     mosquitto_pub -h %[2]s -p %[3]s -t kasa2mqtt/patio_light/set -m '{"color_temp":2700}'
  Home Assistant:     point its MQTT integration at %[1]s; the devices appear by discovery.

%[4]s
Press Ctrl-C to stop.

`, addr, hostOf(addr), portOf(addr), v2.instructions(), fill(fmt.Sprintf("kasa2mqtt demo: a simulated Kasa cloud "+
				"(a plug, two metered plugs, a 6-outlet HS300 strip, an HS220 dimmer and a KL130 colour bulb), "+
				"a simulated Kasa V2 cloud with a two-step verification account (a plug and a metered plug) "+
				"and a simulated Tuya cloud project (a metered plug, a 2-gang strip and a colour light), "+
				"bridged to the embedded MQTT broker on %s.", addr)))
		},
	}
	m.OnHTTPStarted = func(addr string) {
		check := "kasa2mqtt health"
		if addr != defaultHealthListen {
			check += " -url http://" + addr + "/healthz"
		}
		fmt.Fprintf(e.stdout, "%s\n\n  %s\n\n", fill("kasa2mqtt demo: health, readiness and metrics on http://"+addr+"; check them with:"), check)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintf(e.stderr, "kasa2mqtt demo: %v\n", err)
		return exitError
	}
	return exitOK
}

// simulateTuya varies the Tuya plug's load and advances its energy.
func simulateTuya(ctx context.Context, fake *tuyatest.Server, plug string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if rand.IntN(5) == 0 {
				fake.SetPower(plug, 400+rand.Float64()*1200)
			}
			fake.Tick(time.Second)
		}
	}
}

// simulate moves the metered devices' power around and advances energy.
func simulate(ctx context.Context, fake *kasatest.Server, metered []string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, id := range metered {
				if rand.IntN(5) == 0 {
					fake.SetPower(id, 5+rand.Float64()*120)
				}
			}
			fake.Tick(time.Second)
		}
	}
}

// bannerWidth is the width the demo fills its prose to.
const bannerWidth = 76

// fill wraps text at spaces into lines of at most bannerWidth bytes, each
// as full as the next word allows (a longer word has a line of its own).
func fill(text string) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > bannerWidth:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "1883"
	}
	return p
}
