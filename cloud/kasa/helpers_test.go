package kasa_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

const (
	testUser = "alice@example.com"
	// testPassword has every character that breaks hand-built JSON.
	testPassword = `p"a\s/s{w}o rd ü 密`
)

// env is one fake cloud with an account, a state directory and a log
// observer. At cleanup it checks that no password, token or refresh token
// reached any log line or any error the test registered.
type env struct {
	t      *testing.T
	srv    *kasatest.Server
	dir    string
	logs   *observer.ObservedLogs
	log    *zap.Logger
	errs   []error
	extraS []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := kasatest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddAccount(testUser, testPassword)
	core, logs := observer.New(zap.DebugLevel)
	e := &env{t: t, srv: srv, dir: t.TempDir(), logs: logs, log: zap.New(core)}
	t.Cleanup(e.checkSecrets)
	return e
}

// options returns provider options pointing at the fake.
func (e *env) options() kasa.Options {
	return kasa.Options{
		Account:    "home",
		Username:   testUser,
		Password:   testPassword,
		URL:        e.srv.URL(),
		StateDir:   e.dir,
		HTTPClient: e.srv.Client(),
		Logger:     e.log,
	}
}

func (e *env) provider(mod ...func(*kasa.Options)) *kasa.Provider {
	e.t.Helper()
	opts := e.options()
	for _, m := range mod {
		m(&opts)
	}
	p, err := kasa.New(opts)
	if err != nil {
		e.t.Fatalf("kasa.New: %v", err)
	}
	return p
}

// track registers errors to be checked for secrets at cleanup.
func (e *env) track(errs ...error) {
	for _, err := range errs {
		if err != nil {
			e.errs = append(e.errs, err)
		}
	}
}

func (e *env) checkSecrets() {
	secrets := append(e.srv.Secrets(), testPassword, "wrong-"+testPassword)
	secrets = append(secrets, e.extraS...)
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

func mustList(t *testing.T, e *env, p *kasa.Provider) []cloud.Device {
	t.Helper()
	devs, err := p.ListDevices(ctxT(t))
	e.track(err)
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	return devs
}

func mustRead(t *testing.T, e *env, p *kasa.Provider, ids ...string) map[string]cloud.State {
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
	for _, st := range states {
		e.track(st.Err)
		out[st.DeviceID] = st
	}
	return out
}

func mustApply(t *testing.T, e *env, p *kasa.Provider, cmd cloud.Command) {
	t.Helper()
	err := p.Apply(ctxT(t), cmd)
	e.track(err)
	if err != nil {
		t.Fatalf("Apply(%s): %v", cmd, err)
	}
}

func deviceByID(t *testing.T, devs []cloud.Device, id string) cloud.Device {
	t.Helper()
	for _, d := range devs {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("device %q not listed", id)
	return cloud.Device{}
}

func wantErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-6 && d > -1e-6
}

func fval(p *float64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

func tokenFile(e *env) string { return filepath.Join(e.dir, "kasa-home.json") }

var errCanceled = context.Canceled

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

func kasatestNewTLS(t *testing.T) *kasatest.Server {
	s := kasatest.NewServerTLS()
	t.Cleanup(s.Close)
	return s
}
