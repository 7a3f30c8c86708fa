package kasa

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped roots are exactly the two the reference names: subject,
// SHA-256 fingerprint and validity, and they are CA certificates that are
// valid today and for years to come.
func TestV2Roots_FingerprintsAndExpiry(t *testing.T) {
	want := map[string]struct {
		cn          string
		from, until string
	}{
		"8b54f0364e840fb010d517324725f0d30245d35b45f9be4b6e50b84f03fdec19": {"tp-link-CA", "2018-01-19", "2068-01-19"},
		"8d27224dac20c2db8a380e3103b4e383c481ee41b681908579aee416761da289": {"TP-Link Cloud Root CA", "2025-02-25", "2055-02-18"},
	}
	rest := tplinkRoots
	seen := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		seen++
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b.Bytes)
		fp := hex.EncodeToString(sum[:])
		w, ok := want[fp]
		if !ok {
			t.Errorf("unexpected certificate %q with SHA-256 %s", cert.Subject.CommonName, fp)
			continue
		}
		if cert.Subject.CommonName != w.cn || !cert.IsCA || cert.Subject.String() != cert.Issuer.String() {
			t.Errorf("%s: subject %q issuer %q CA %v, want the self-signed root %q", fp, cert.Subject, cert.Issuer, cert.IsCA, w.cn)
		}
		if got := cert.NotBefore.UTC().Format(time.DateOnly); got != w.from {
			t.Errorf("%s: valid from %s, want %s", w.cn, got, w.from)
		}
		if got := cert.NotAfter.UTC().Format(time.DateOnly); got != w.until {
			t.Errorf("%s: valid until %s, want %s", w.cn, got, w.until)
		}
		if time.Until(cert.NotAfter) < 10*365*24*time.Hour {
			t.Errorf("%s expires within ten years (%s)", w.cn, cert.NotAfter)
		}
		delete(want, fp)
	}
	if seen != 2 || len(want) != 0 || strings.TrimSpace(string(rest)) != "" {
		t.Errorf("%d certificates, missing %v, trailing %q", seen, want, rest)
	}
	if V2RootCAs() == nil {
		t.Fatal("no pool")
	}
}

func TestLoadCAFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, tplinkRoots, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAFile(good); err != nil {
		t.Errorf("LoadCAFile: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, p := range []string{bad, filepath.Join(dir, "missing.pem")} {
		if _, err := LoadCAFile(p); err == nil {
			t.Errorf("LoadCAFile(%s) = nil error", p)
		}
	}
}
