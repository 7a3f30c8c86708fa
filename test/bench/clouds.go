package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

// The accounts of the fake clouds.
const (
	kasaUser     = "bench@example.com"
	kasaPassword = "bench-password"
	tuyaID       = "bench0access0id00tuya"
	tuyaSecret   = "bench0access0secret000000000tuya"
)

// clouds are the fake clouds the daemon polls, with what was put in them.
type clouds struct {
	kasa *kasatest.Server
	tuya *tuyatest.Server // nil without Tuya devices

	kasaDevices, tuyaDevices int // physical devices
	entities                 int // bridged devices (plugs, strips, outlets)
	stateless                int // of them, with nothing to publish (Tuya strips without a master switch)
	metered                  []string
	tuyaMetered              []string
	kasaPlugs, tuyaPlugs     []string // plain or metered plugs, for /set
}

// stripShare is the share of the physical devices that are strips: with
// 15 % six-outlet Kasa strips, 2,000 devices are 3,800 entities (1,700
// plugs, 300 strips, 1,800 outlets), the account of issue 11.
const stripShare = 0.15

// startClouds fills the fake clouds: Kasa plugs (half of them metering),
// HS300 strips (six metered outlets) and, for Tuya, metered plugs and
// three-gang strips. latency delays every answer.
func startClouds(kasaN, tuyaN int, latency time.Duration) *clouds {
	c := &clouds{kasa: kasatest.NewServer(), kasaDevices: kasaN, tuyaDevices: tuyaN}
	c.kasa.AddAccount(kasaUser, kasaPassword)
	c.kasa.SetLatency(latency)
	strips := int(float64(kasaN) * stripShare)
	for i := range kasaN - strips {
		var id string
		if i%2 == 0 {
			id = c.kasa.AddMeteredPlug(kasaUser, fmt.Sprintf("Plug %d", i), "KP115(US)", true)
			c.metered = append(c.metered, id)
		} else {
			id = c.kasa.AddPlug(kasaUser, fmt.Sprintf("Plug %d", i), "HS103(US)")
		}
		c.kasaPlugs = append(c.kasaPlugs, id)
		c.entities++
	}
	for i := range strips {
		_, outlets := c.kasa.AddStrip(kasaUser, fmt.Sprintf("Strip %d", i), "HS300(US)", 6, true)
		c.metered = append(c.metered, outlets...)
		c.entities += 1 + len(outlets)
	}
	if tuyaN == 0 {
		return c
	}
	c.tuya = tuyatest.NewServer()
	c.tuya.AddProject(tuyaID, tuyaSecret)
	c.tuya.SetLatency(latency)
	tstrips := int(float64(tuyaN) * stripShare)
	for i := range tuyaN - tstrips {
		id := c.tuya.AddPlug(tuyaID, fmt.Sprintf("Tuya plug %d", i), true)
		c.tuyaMetered = append(c.tuyaMetered, id)
		c.tuyaPlugs = append(c.tuyaPlugs, id)
		c.entities++
	}
	for i := range tstrips {
		_, gangs := c.tuya.AddStrip(tuyaID, fmt.Sprintf("Tuya strip %d", i), 3)
		c.entities += 1 + len(gangs)
		c.stateless++
	}
	return c
}

func (c *clouds) close() {
	c.kasa.Close()
	if c.tuya != nil {
		c.tuya.Close()
	}
}

// fluctuate changes the load of every metering device every few seconds,
// as real loads do, so that polls publish new states.
func (c *clouds) fluctuate(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, id := range c.metered {
			c.kasa.SetPower(id, 5+rand.Float64()*100)
		}
		for _, id := range c.tuyaMetered {
			c.tuya.SetPower(id, 5+rand.Float64()*100)
		}
	}
}

// callCounts are the state-read calls the fakes received so far.
type callCounts struct{ kasa, tuya int }

func (c *clouds) readCalls() callCounts {
	n := callCounts{kasa: c.kasa.Calls("passthrough")}
	if c.tuya != nil {
		n.tuya = c.tuya.Calls(tuyaStatusPath)
	}
	return n
}

const tuyaStatusPath = "/v1.0/iot-03/devices/status"

// commandArrival returns when the cloud received the first relay command
// for device id at or after since.
func (c *clouds) commandArrival(provider, id string, since time.Time) (time.Time, bool) {
	switch provider {
	case "kasa":
		for _, r := range c.kasa.Requests() {
			if r.DeviceID == id && !r.At.Before(since) && strings.Contains(r.RequestData, "set_relay_state") {
				return r.At, true
			}
		}
	case "tuya":
		path := "/v1.0/iot-03/devices/" + id + "/commands"
		for _, r := range c.tuya.Requests() {
			if r.Path == path && !r.At.Before(since) {
				return r.At, true
			}
		}
	}
	return time.Time{}, false
}

// forget drops the fakes' recorded requests (they grow with every call).
func (c *clouds) forget() {
	c.kasa.ResetCalls()
	if c.tuya != nil {
		c.tuya.ResetCalls()
	}
}
