package kasa

import (
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"os"
)

// tplinkRoots holds the two public root certificates of TP-Link's private
// CA that the V2 hosts chain to (reference §5.5): CN=tp-link-CA
// (2018-01-19 to 2068-01-19), the root of the n-wap.tplinkcloud.com
// chain, and CN=TP-Link Cloud Root CA (2025-02-25 to 2055-02-18). Only
// roots are trusted, never a leaf: the hosts may renew their certificates
// without a new release.
//
//go:embed tplink-roots.pem
var tplinkRoots []byte

// V2RootCAs returns a new pool holding TP-Link's root certificates, the
// default trust of V2 accounts. The pool is used for the V2 requests of
// Kasa accounts only (see Options.V2), never for anything else.
func V2RootCAs() *x509.CertPool {
	pool, err := poolFromPEM(tplinkRoots)
	if err != nil {
		panic("kasa: embedded TP-Link roots: " + err.Error()) // fixed at build time, covered by a test
	}
	return pool
}

// LoadCAFile returns a pool of the certificates in the PEM file at path,
// for v2.ca_file (e.g. a test CA), replacing V2RootCAs.
func LoadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := poolFromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	return pool, nil
}

func poolFromPEM(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}
