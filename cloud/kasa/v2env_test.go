package kasa_test

import (
	"crypto/x509"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// newV2Env is newEnv on a fake V2 cloud: the account's provider speaks
// api v2 with the test key pair and trusts the fake's test CA only.
func newV2Env(t *testing.T) *env {
	t.Helper()
	srv := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	t.Cleanup(srv.Close)
	srv.AddAccount(testUser, testPassword)
	e := newEnvOn(t, srv)
	e.extraS = append(e.extraS, kasatest.TestSecretKey)
	return e
}

// v2Options points options at e's V2 fake.
func v2Options(e *env) func(*kasa.Options) {
	return func(o *kasa.Options) {
		o.API = kasa.APIV2
		o.V2 = kasa.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey, RootCAs: caPool(e.t, e.srv)}
	}
}

func caPool(t *testing.T, srv *kasatest.Server) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM()) {
		t.Fatal("the fake has no CA")
	}
	return pool
}
