package tuya_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya/tuyatest"
)

const (
	testAccessID = "t3stacc3ss1d0000abcd"
	testSecret   = "S3cr3tAccessSecret0123456789abcd"
)

// clock is an adjustable host clock: real time plus an offset.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = d
}

// env is one fake cloud with a project, a state directory, an energy file
// and a log observer. At cleanup it checks that no secret (access secret,
// token, refresh token, authorization code, local key) reached any log
// line or any error the test registered.
type env struct {
	t     *testing.T
	srv   *tuyatest.Server
	dir   string
	logs  *observer.ObservedLogs
	log   *zap.Logger
	clock *clock
	errs  []error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := tuyatest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddProject(testAccessID, testSecret)
	core, logs := observer.New(zap.DebugLevel)
	e := &env{t: t, srv: srv, dir: t.TempDir(), logs: logs, log: zap.New(core), clock: &clock{}}
	t.Cleanup(e.checkSecrets)
	return e
}

func (e *env) options() tuya.Options {
	return tuya.Options{
		Account:      "home",
		AccessID:     testAccessID,
		AccessSecret: testSecret,
		Endpoint:     e.srv.URL(),
		Region:       "eu",
		StateDir:     e.dir,
		HTTPClient:   e.srv.Client(),
		Logger:       e.log,
		Now:          e.clock.Now,
	}
}

func (e *env) provider(mod ...func(*tuya.Options)) *tuya.Provider {
	e.t.Helper()
	opts := e.options()
	for _, m := range mod {
		m(&opts)
	}
	p, err := tuya.New(opts)
	if err != nil {
		e.t.Fatalf("tuya.New: %v", err)
	}
	return p
}

// meter opens the energy meter file of the state directory.
func (e *env) meter() *cloud.EnergyMeter {
	e.t.Helper()
	m, err := cloud.OpenEnergyMeter(filepath.Join(e.dir, "energy.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) track(errs ...error) {
	for _, err := range errs {
		if err != nil {
			e.errs = append(e.errs, err)
		}
	}
}

func (e *env) checkSecrets() {
	secrets := append(e.srv.Secrets(), testSecret)
	var texts []string
	for _, entry := range e.logs.All() {
		texts = append(texts, entry.Message+" "+fmt.Sprint(entry.ContextMap()))
	}
	for _, err := range e.errs {
		texts = append(texts, err.Error())
	}
	for _, text := range texts {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				e.t.Errorf("secret %q leaked into %q", secret, text)
			}
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustList(t *testing.T, e *env, p *tuya.Provider) []cloud.Device {
	t.Helper()
	devs, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	return devs
}

func mustRead(t *testing.T, e *env, p *tuya.Provider, ids ...string) map[string]cloud.State {
	t.Helper()
	states, err := p.ReadStates(ctxT(t), ids)
	e.track(err)
	if err != nil {
		t.Fatalf("ReadStates: %v", err)
	}
	if len(states) != len(ids) {
		t.Fatalf("ReadStates returned %d states for %d ids", len(states), len(ids))
	}
	out := map[string]cloud.State{}
	for i, st := range states {
		if st.DeviceID != ids[i] {
			t.Fatalf("state %d is for %q, want %q", i, st.DeviceID, ids[i])
		}
		e.track(st.Err)
		out[st.DeviceID] = st
	}
	return out
}

func mustApply(t *testing.T, e *env, p *tuya.Provider, cmd cloud.Command) {
	t.Helper()
	err := p.Apply(ctxT(t), cmd)
	e.track(err)
	if err != nil {
		t.Fatalf("Apply(%s): %v", cmd, err)
	}
}

func relayOn(id string) cloud.Command {
	return cloud.Command{DeviceID: id, Action: cloud.ActionSetRelay, On: true}
}

func deviceByID(t *testing.T, devs []cloud.Device, id string) cloud.Device {
	t.Helper()
	for _, d := range devs {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("device %q not listed (have %v)", id, ids(devs))
	return cloud.Device{}
}

func ids(devs []cloud.Device) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.ID)
	}
	return out
}

func wantErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func fval(p *float64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

func tokenFile(e *env) string { return filepath.Join(e.dir, "tuya-home.json") }

// grants counts successful token grants of a grant type.
func grants(srv *tuyatest.Server, grantType string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Path == "/v1.0/token" && len(r.Query["grant_type"]) == 1 && r.Query["grant_type"][0] == grantType && r.Code == 0 {
			n++
		}
	}
	return n
}

const refreshPath = "/v1.0/token/{refresh_token}"
const statusPath = "/v1.0/iot-03/devices/status"
const listPath = "/v1.0/iot-01/associated-users/devices"
