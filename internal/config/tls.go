package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// set reports whether any TLS option is given.
func (t TLS) set() bool {
	return t.CA != "" || t.Cert != "" || t.Key != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// MQTTTLSConfig builds the TLS configuration for an mqtts:// broker from
// mqtt.tls: nil (the system roots, the server's own name) when no option is
// set. It reads the CA and client key pair files; Parse has already called
// it once, so errors here mean a file changed since loading.
func (c *Config) MQTTTLSConfig() (*tls.Config, error) {
	cfg, _, err := buildTLS(c.MQTT.TLS)
	return cfg, err
}

// buildTLS returns the tls.Config for t, or the field at fault and why.
func buildTLS(t TLS) (*tls.Config, string, error) {
	if !t.set() {
		return nil, "", nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as testing only
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, "mqtt.tls.ca", fmt.Errorf("cannot read the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "mqtt.tls.ca", errors.New("no PEM certificate found in the CA file")
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.Cert != "" && t.Key == "":
		return nil, "mqtt.tls.key", errors.New("required with mqtt.tls.cert (the client certificate's private key)")
	case t.Key != "" && t.Cert == "":
		return nil, "mqtt.tls.cert", errors.New("required with mqtt.tls.key (the client certificate)")
	case t.Cert != "":
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			// The error of LoadX509KeyPair names the files, never key bytes.
			return nil, "mqtt.tls.cert", fmt.Errorf("cannot load the client certificate and key: %s", strings.TrimPrefix(err.Error(), "tls: "))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, "", nil
}
