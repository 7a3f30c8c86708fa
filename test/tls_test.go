package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA with a broker and a client certificate, as PEM files.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, dir, serverName string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kasa2mqtt test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return der, kder
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sDER, sKey := leaf(2, serverName, x509.ExtKeyUsageServerAuth, []string{serverName})
	cDER, cKey := leaf(3, "kasa2mqtt", x509.ExtKeyUsageClientAuth, nil)
	return testPKI{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", sDER),
		serverKey:  write("server.key", "EC PRIVATE KEY", sKey),
		clientCert: write("client.pem", "CERTIFICATE", cDER),
		clientKey:  write("client.key", "EC PRIVATE KEY", cKey),
	}
}

// TestE2E_MQTTOverTLSWithClientCertificate connects the daemon to
// Mosquitto over mqtts:// with a private CA, a client certificate the
// broker requires, and a server name that differs from the address dialled.
func TestE2E_MQTTOverTLSWithClientCertificate(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath(mosquittoBin()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but mosquitto is not installed: %v", err)
		}
		t.Skip("mosquitto not installed")
	}
	h := newHarness(t, "mochi")
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "broker.test")
	tlsAddr, plainAddr := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	_, plainPort, _ := net.SplitHostPort(plainAddr)
	conf := filepath.Join(dir, "mosquitto.conf")
	// The TLS listener requires a client certificate; the plain one is for
	// the test's own observer. "user root": started as root (as in CI),
	// Mosquitto would switch to its own user, which cannot read the 0600
	// key files; as anyone else the line does nothing.
	err := os.WriteFile(conf, []byte("user root\nper_listener_settings true\n"+
		"listener "+tlsPort+" 127.0.0.1\nallow_anonymous true\ncafile "+pki.ca+"\ncertfile "+pki.serverCert+
		"\nkeyfile "+pki.serverKey+"\nrequire_certificate true\n"+
		"listener "+plainPort+" 127.0.0.1\nallow_anonymous true\npersistence false\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mosquittoBin(), "-c", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", out.String())
		}
	})
	for _, a := range []string{tlsAddr, plainAddr} {
		b := &testBroker{t: t, kind: "mosquitto", addr: a}
		b.waitListening()
	}

	h.rec = newRecorder(t, "mqtt://"+plainAddr)
	h.cfg.MQTT.Server = "mqtts://" + tlsAddr
	h.cfg.MQTT.TLS.CA = pki.ca
	h.cfg.MQTT.TLS.Cert = pki.clientCert
	h.cfg.MQTT.TLS.Key = pki.clientKey
	h.cfg.MQTT.TLS.ServerName = "broker.test"
	f := h.addFleet()
	h.start()

	h.rec.waitMsg(0, base+"/bridge/state", contains(`"online"`))
	lamp := h.deviceTopic(0, f.lamp)
	h.rec.waitMsg(0, base+"/"+lamp, contains(`"state":"OFF"`))
	mk := h.rec.mark()
	h.rec.publish(base+"/"+lamp+"/set", "ON", false)
	h.rec.waitMsg(mk, base+"/"+lamp, contains(`"state":"ON"`))
}
