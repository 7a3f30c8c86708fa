package kasa_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/cloudtest"
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
	rec    *cloudtest.Recorder
	logs   *observer.ObservedLogs
	log    *zap.Logger
	extraS []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := kasatest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddAccount(testUser, testPassword)
	return newEnvOn(t, srv)
}

// newEnvOn is newEnv on a fake the caller started (with the account).
func newEnvOn(t *testing.T, srv *kasatest.Server) *env {
	t.Helper()
	e := &env{t: t, srv: srv, dir: t.TempDir()}
	e.rec = cloudtest.NewRecorder(t, func() []string {
		return append(e.srv.Secrets(), append([]string{testPassword, "wrong-" + testPassword}, e.extraS...)...)
	})
	e.logs, e.log = e.rec.Logs(), e.rec.Logger()
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
func (e *env) track(errs ...error) { e.rec.Track(errs...) }

func ctxT(t *testing.T) context.Context { return cloudtest.Context(t) }

func mustList(t *testing.T, e *env, p *kasa.Provider) []cloud.Device {
	t.Helper()
	return cloudtest.MustList(t, e.rec, p)
}

func mustRead(t *testing.T, e *env, p *kasa.Provider, ids ...string) map[string]cloud.State {
	t.Helper()
	return cloudtest.ByID(cloudtest.MustRead(t, e.rec, p, ids...))
}

func mustApply(t *testing.T, e *env, p *kasa.Provider, cmd cloud.Command) {
	t.Helper()
	cloudtest.MustApply(t, e.rec, p, cmd)
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
