package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLSAndWebSocketListeners(t *testing.T) {
	cert, pool := selfSigned(t)
	b, err := Start(Options{
		Listen:          "127.0.0.1:0",
		TLSListen:       "127.0.0.1:0",
		TLSConfig:       &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		WebSocketListen: "127.0.0.1:0",
		Username:        "bridge", Password: "s3cret",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if b.TLSAddr() == "" || strings.HasSuffix(b.TLSAddr(), ":0") || b.WebSocketAddr() == "" || strings.HasSuffix(b.WebSocketAddr(), ":0") {
		t.Fatalf("listener addresses not bound: tls %q, websocket %q", b.TLSAddr(), b.WebSocketAddr())
	}
	tlsClient := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if err := roundTripAs(t, "ssl://"+b.TLSAddr(), tlsClient, "bridge", "s3cret"); err != nil {
		t.Errorf("TLS listener: %v", err)
	}
	if err := roundTripAs(t, "ws://"+b.WebSocketAddr()+"/mqtt", nil, "bridge", "s3cret"); err != nil {
		t.Errorf("WebSocket listener: %v", err)
	}
	// The credentials apply on every listener.
	if err := roundTripAs(t, "ws://"+b.WebSocketAddr()+"/mqtt", nil, "bridge", "wrong"); err == nil {
		t.Error("WebSocket listener accepted a wrong password")
	}
	if err := roundTripAs(t, "ssl://"+b.TLSAddr(), tlsClient, "", ""); err == nil {
		t.Error("TLS listener accepted an anonymous client")
	}
	// Plain MQTT on the TLS port fails.
	if err := roundTripAs(t, "tcp://"+b.TLSAddr(), nil, "bridge", "s3cret"); err == nil {
		t.Error("plain MQTT accepted on the TLS listener")
	}
}

// roundTripAs connects to url as user, subscribes to a topic, publishes
// on it and waits for the message to come back. It returns the connect
// error; later failures fail the test.
func roundTripAs(t *testing.T, url string, tlsCfg *tls.Config, user, pass string) error {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("probe").SetUsername(user).SetPassword(pass).
		SetConnectTimeout(3 * time.Second).SetAutoReconnect(false)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return paho.ErrNotConnected
	}
	if tok.Error() != nil {
		return tok.Error()
	}
	defer c.Disconnect(50)
	got := make(chan string, 1)
	if tok := c.Subscribe("rt/topic", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe over %s: %v", url, tok.Error())
	}
	if tok := c.Publish("rt/topic", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish over %s: %v", url, tok.Error())
	}
	select {
	case p := <-got:
		if p != "hello" {
			t.Fatalf("over %s got %q", url, p)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no message back over %s", url)
	}
	return nil
}

// TestWebSocketRefusesOtherOrigins: a web page on another site must not
// reach the broker through the visitor's browser.
func TestWebSocketRefusesOtherOrigins(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", WebSocketListen: "127.0.0.1:0",
		WebSocketOrigins: []string{"http://dashboard.local:1880"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	url := "ws://" + b.WebSocketAddr() + "/mqtt"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // not a browser
		{"http://" + b.WebSocketAddr(), true},
		{"http://dashboard.local:1880", true},
		{"HTTP://Dashboard.local:1880", true},
		{"http://evil.example", false},
		{"http://dashboard.local:1881", false},
		{"null", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial(url, h)
		if c != nil {
			c.Close()
		}
		if resp != nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("origin %q: upgrade error %v, want allowed %v", tc.origin, err, tc.ok)
		}
	}
}

// TestMaxPacketSizeRefusesLargerPackets: a packet over the limit closes
// the sender's connection and reaches nobody; packets within it pass.
func TestMaxPacketSizeRefusesLargerPackets(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", MaxPacketSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	got := make(chan int, 4)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("big", 1, func(_ paho.Client, m paho.Message) { got <- len(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	lost := make(chan error, 1)
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("pub").
		SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	if tok := pub.Publish("big", 1, false, make([]byte, 60<<10)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("a 60 KiB publish under a 64 KiB limit: %v", tok.Error())
	}
	if n := <-got; n != 60<<10 {
		t.Fatalf("delivered %d bytes", n)
	}
	pub.Publish("big", 1, false, make([]byte, 65<<10))
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the broker kept the connection of a client that sent a 65 KiB packet")
	}
	select {
	case n := <-got:
		t.Fatalf("a %d-byte packet over the limit was delivered", n)
	case <-time.After(300 * time.Millisecond):
	}
}
