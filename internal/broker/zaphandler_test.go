package broker

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// connectPacket is an MQTT 3.1.1 CONNECT of client id "raw" with a user
// name and password.
func connectPacket(user, pass string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := append(str("MQTT"), 4, 0xC2, 0, 60) // level 4; user name, password, clean session; keep-alive 60 s
	body = append(body, str("raw")...)
	body = append(body, str(user)...)
	body = append(body, str(pass)...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// The broker's own log lines go through the daemon's logger at their own
// level with a message: a client that drops its connection without
// DISCONNECT is routine (debug), refused credentials are a warning that
// says so, and neither is written as an Info line holding "level=WARN
// msg=\"\"" (what mochi's text logger produced for every script that
// exited). The password is in neither.
func TestLog_ClientGoneIsDebugRefusedLoginIsAWarning(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	b, err := Start(Options{Listen: "127.0.0.1:0", Username: "bridge", Password: "s3cret", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	send := func(pass string) {
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(connectPacket("bridge", pass)); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(ack); err != nil || ack[0] != 0x20 {
			t.Fatalf("no CONNACK (%x): %v", ack, err)
		}
	} // closed without DISCONNECT
	wait := func(msg string) observer.LoggedEntry {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if l := logs.FilterMessage(msg).All(); len(l) > 0 {
				return l[0]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no log line %q; got %v", msg, logs.All())
		return observer.LoggedEntry{}
	}

	send("s3cret")
	if e := wait("client closed its connection without DISCONNECT"); e.Level != zapcore.DebugLevel {
		t.Errorf("a client gone without DISCONNECT logged at %v, want debug", e.Level)
	}
	send("wrong")
	e := wait("client connection ended with an error")
	if e.Level != zapcore.WarnLevel || !strings.Contains(strings.ToLower(e.ContextMap()["error"].(string)), "password") {
		t.Errorf("refused credentials logged as %v %v, want a warning naming the password", e.Level, e.ContextMap())
	}
	for _, l := range logs.All() {
		line := l.Message + " " + fmt.Sprint(l.ContextMap())
		if l.Message == "" || strings.Contains(line, "level=") || strings.Contains(line, "s3cret") || strings.Contains(line, "wrong") {
			t.Errorf("log line %v %q: want a message, no nested level, no password", l.Level, line)
		}
	}
}

// A client whose connection is reset (a killed process: the kernel sends
// RST) is gone like one that closed it: a debug line, not a warning.
func TestLog_ClientResetIsDebug(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	b, err := Start(Options{Listen: "127.0.0.1:0", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c, _ := dialRaw(t, b.Addr(), "killed", true)
	conn := c.conn
	_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
	conn.Close()
	deadline := time.Now().Add(10 * time.Second) // a guard against a hang
	for logs.FilterMessage("client closed its connection without DISCONNECT").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no debug line for the reset connection; got %v", logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range logs.All() {
		if l.Level >= zapcore.WarnLevel {
			t.Errorf("%v %q %v for a reset connection, want debug only", l.Level, l.Message, l.ContextMap())
		}
	}
}

// mochi logs the whole packet of a client's protocol error: a second
// CONNECT carries the broker's password, and a PUBLISH whatever its
// payload holds. The log line names the packet (type and id) and the
// error, never its contents.
func TestLog_PacketOfAProtocolErrorIsNamedNotDumped(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	b, err := Start(Options{Listen: "127.0.0.1:0", Username: "bridge", Password: "s3cret", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 2 { // the second CONNECT is a protocol violation
		if _, err := conn.Write(connectPacket("bridge", "s3cret")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second) // a guard against a hang
	var e observer.LoggedEntry
	for {
		if l := logs.FilterMessage("error processing packet").All(); len(l) > 0 {
			e = l[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the second CONNECT; got %v", logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pk, _ := e.ContextMap()["pk"].(string); !strings.Contains(pk, "Connect") {
		t.Errorf("pk field %v, want the packet's type", e.ContextMap()["pk"])
	}
	_ = b.Close()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, l := range logs.All() { // as the daemon's JSON log writes them
		line, err := enc.EncodeEntry(l.Entry, l.Context)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"s3cret", "czNjcmV0"} { // as written, and base64 (a []byte in JSON)
			if strings.Contains(line.String(), secret) {
				t.Errorf("the password (%s) is in the broker's log: %s", secret, line)
			}
		}
	}
}
