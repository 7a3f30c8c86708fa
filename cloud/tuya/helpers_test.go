package tuya_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/cloudtest"
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
	rec   *cloudtest.Recorder
	logs  *observer.ObservedLogs
	log   *zap.Logger
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := tuyatest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddProject(testAccessID, testSecret)
	e := &env{t: t, srv: srv, dir: t.TempDir(), clock: &clock{}}
	e.rec = cloudtest.NewRecorder(t, func() []string { return append(srv.Secrets(), testSecret) })
	e.logs, e.log = e.rec.Logs(), e.rec.Logger()
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

// track registers errors to be checked for secrets at cleanup.
func (e *env) track(errs ...error) { e.rec.Track(errs...) }

func ctxT(t *testing.T) context.Context { return cloudtest.Context(t) }

func mustList(t *testing.T, e *env, p *tuya.Provider) []cloud.Device {
	t.Helper()
	return cloudtest.MustList(t, e.rec, p)
}

// mustRead also checks that the states come in the order asked, as
// ReadStates promises.
func mustRead(t *testing.T, e *env, p *tuya.Provider, ids ...string) map[string]cloud.State {
	t.Helper()
	states := cloudtest.MustRead(t, e.rec, p, ids...)
	for i, st := range states {
		if st.DeviceID != ids[i] {
			t.Fatalf("state %d is for %q, want %q", i, st.DeviceID, ids[i])
		}
	}
	return cloudtest.ByID(states)
}

func mustApply(t *testing.T, e *env, p *tuya.Provider, cmd cloud.Command) {
	t.Helper()
	cloudtest.MustApply(t, e.rec, p, cmd)
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
