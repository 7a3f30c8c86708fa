package kasatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// The documented key pair of the tests and of `kasa2mqtt demo`: made-up
// values, not the Kasa app's. A real cloud refuses them.
const (
	TestAccessKey = "kasatest-access-key-0000"
	TestSecretKey = "kasatest-secret-key-0000"
)

// V2Options configure a fake V2 cloud (NewServerV2).
type V2Options struct {
	// AccessKey and SecretKey are the app key pair every request must be
	// signed with. Required.
	AccessKey, SecretKey string
}

// ErrorStyle is how a V2 fake answers an error.
type ErrorStyle int

// The ways the V2 cloud is known to report errors (reference §5.2).
const (
	// ErrorsNestedNumber: outer error_code 0, result.errorCode a number
	// and result.errorMsg. The default.
	ErrorsNestedNumber ErrorStyle = iota
	// ErrorsNestedString: as ErrorsNestedNumber, errorCode a string.
	ErrorsNestedString
	// ErrorsOuter: error_code and msg in the envelope, as V1 answers.
	ErrorsOuter
)

// RegionPath is where the V2 fake serves an account's regional server:
// getAccountStatusAndUrl answers URL()+RegionPath, and the account calls,
// getDeviceList and passthrough are served below it (not at the entry),
// so a client that skips the discovery fails.
const RegionPath = "/use1"

// v2State is the V2 mode of a Server; guarded by Server.mu.
type v2State struct {
	accessKey, secretKey string
	caPEM                []byte
	style                ErrorStyle
	lowerProcessID       bool // spell the MFA process id mfaProcessId
	badSignatures        int
	processes            map[string]*mfaProcess // by process id
	codes                map[string]*mfaCode    // last code sent, by lower-case user
	lastCheck            *MFACheck
}

type mfaProcess struct {
	user, terminal string
}

type mfaCode struct {
	code, terminal string
	mfaType        int
	expired, used  bool
}

// MFACheck is the last checkMFACodeAndLogin request, as received.
type MFACheck struct {
	Username            string
	Code                string
	ProcessID           string
	MFAType             int // 1 push, 2 e-mail
	TerminalBindEnabled bool
	TerminalUUID        string // the query's termID
}

// NewServerV2 starts a fake Kasa V2 cloud on https://127.0.0.1:<port>,
// with a certificate (for 127.0.0.1 and localhost) issued by a test CA of
// its own: clients trust it through CAPEM (a V2 account's v2.ca_file).
// It serves the V2 API of the project's reference §5: regional discovery
// at the entry (URL), then login, refresh, two-step verification,
// getDeviceList and passthrough on the regional server URL()+RegionPath.
// Every request must carry the V2 query and a valid signature
// (Content-MD5 of the bytes received, X-Authorization in the documented
// order, HMAC-SHA1 with opts' key pair); a V1 envelope at the entry is not
// served. Devices, accounts and knobs are the V1 fake's.
func NewServerV2(opts V2Options) *Server {
	if opts.AccessKey == "" || opts.SecretKey == "" {
		panic("kasatest: NewServerV2 needs both keys")
	}
	caPEM, leaf, err := testCA()
	if err != nil {
		panic("kasatest: test CA: " + err.Error())
	}
	s := newState()
	s.v2 = &v2State{
		accessKey: opts.AccessKey, secretKey: opts.SecretKey, caPEM: caPEM,
		processes: map[string]*mfaProcess{}, codes: map[string]*mfaCode{},
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests want
	s.ts.StartTLS()
	s.client = s.loopbackClient()
	return s
}

// CAPEM returns the PEM of the V2 fake's test CA (nil in V1 mode), for a
// V2 account's v2.ca_file.
func (s *Server) CAPEM() []byte {
	if s.v2 == nil {
		return nil
	}
	return append([]byte(nil), s.v2.caPEM...)
}

// RegionURL returns the regional server getAccountStatusAndUrl names (V2
// mode), URL()+RegionPath; in V1 mode URL().
func (s *Server) RegionURL() string {
	if s.v2 == nil {
		return s.ts.URL
	}
	return s.ts.URL + RegionPath
}

// SetErrorStyle sets how the V2 fake answers errors from now on.
func (s *Server) SetErrorStyle(style ErrorStyle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustV2().style = style
}

// SpellProcessIDLower makes the MFA answer spell the process id
// "mfaProcessId" (on) instead of "MFAProcessId" (off, the default).
func (s *Server) SpellProcessIDLower(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustV2().lowerProcessID = on
}

// BadSignatures returns how many requests were refused for their
// signature, Content-MD5 or query.
func (s *Server) BadSignatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustV2().badSignatures
}

// MFACode returns the last verification code sent to user (by
// getPushVC4TerminalMFA or getEmailVC4TerminalMFA), as the person would
// read it from the app or the e-mail, and how (1 push, 2 e-mail).
func (s *Server) MFACode(user string) (code string, mfaType int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustV2().codes[strings.ToLower(user)]
	if c == nil {
		return "", 0, false
	}
	return c.code, c.mfaType, true
}

// ExpireMFACodes makes every code sent so far answer -20676 ("no longer
// valid").
func (s *Server) ExpireMFACodes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.mustV2().codes {
		c.expired = true
	}
}

// LastMFACheck returns the last checkMFACodeAndLogin request.
func (s *Server) LastMFACheck() (MFACheck, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.mustV2().lastCheck; c != nil {
		return *c, true
	}
	return MFACheck{}, false
}

func (s *Server) mustV2() *v2State {
	if s.v2 == nil {
		panic("kasatest: a V2 knob on a V1 server")
	}
	return s.v2
}

// testCA makes a CA and a leaf certificate for 127.0.0.1 and localhost
// that it signed, both valid for a day around now.
func testCA() (caPEM []byte, leaf tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kasatest V2 test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, leaf, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	leaf = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), leaf, nil
}
