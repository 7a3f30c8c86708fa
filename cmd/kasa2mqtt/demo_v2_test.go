package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The demo's 2FA account is logged in the way its instructions say, as a
// script would, with the code the demo prints; its plug then appears on
// MQTT without a restart.
func TestDemoTwoStepAccount(t *testing.T) {
	addr, out, errb := startDemo(t)
	conf := waitMatch(t, out, `kasa2mqtt login -c (\S+login-demo-2fa\.yaml)\n`)
	if code, o, e := runCLI(t, demoPassword+"\n", "login", "-c", conf, "-account", "demo-2fa", "-mfa-type", "email"); code != exitOK {
		t.Fatalf("login -mfa-type: exit %d\n%s%s", code, o, e)
	}
	code := waitMatch(t, out, `verification code for demo-2fa \(by e-mail\): (\d{6})`)

	got := make(chan struct{}, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("demo-2fa-test").
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	c.Subscribe("kasa2mqtt/porch_light", 1, func(paho.Client, paho.Message) {
		select {
		case got <- struct{}{}:
		default:
		}
	}).Wait()

	if c, o, e := runCLI(t, demoPassword+"\n", "login", "-c", conf, "-account", "demo-2fa", "-mfa-type", "email", "-code", code); c != exitOK {
		t.Fatalf("login -code: exit %d\n%s%s", c, o, e)
	}
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("the 2FA account's plug did not appear:\n%s", errb.String())
	}
}

func waitOut(t *testing.T, out *syncBuffer, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("not in the demo's output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMatch waits until the demo's output matches expr and returns the
// first submatch.
func waitMatch(t *testing.T, out *syncBuffer, expr string) string {
	t.Helper()
	re := regexp.MustCompile(expr)
	var got string
	waitOut(t, out, func(s string) bool {
		m := re.FindStringSubmatch(s)
		if m != nil {
			got = m[1]
		}
		return m != nil
	})
	return got
}

// startDemo runs `kasa2mqtt demo` on a free port until the test ends, and
// then checks that it exited cleanly.
func startDemo(t *testing.T) (addr string, out, errb *syncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-listen", addr, "-http", "127.0.0.1:0"}, strings.NewReader(""), out, errb)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("demo exited %d: %s", code, errb.String())
		}
	})
	return addr, out, errb
}
