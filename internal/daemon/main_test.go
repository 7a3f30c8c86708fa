package daemon

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

// TestRun_FailedStepUndoesTheStepsBefore: when a step cannot start (here
// the operations endpoint, its address taken), Run says which and undoes
// the steps before it: the embedded broker it started no longer listens,
// and no goroutine is left behind.
func TestRun_FailedStepUndoesTheStepsBefore(t *testing.T) {
	defer goleak.VerifyNone(t)
	fake := kasatest.NewServer()
	defer fake.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	cfg := config.Default()
	cfg.MQTT.Embedded.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = taken.Addr().String()
	cfg.StateDir = t.TempDir()
	cfg.Accounts = []config.Account{{Provider: "kasa", Name: "home",
		Settings: &kasa.Config{Username: "u@example.com", Password: "pw", URL: fake.URL()}}}
	var brokerAddr string
	m := &Main{Config: &cfg, Logger: zaptest.NewLogger(t), HTTPClient: fake.Client(),
		OnBrokerStarted: func(addr string) { brokerAddr = addr }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	err = m.Run(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "http.listen: ") {
		t.Fatalf("Run = %v, want the http.listen error", err)
	}
	if brokerAddr == "" {
		t.Fatal("the embedded broker did not start")
	}
	if c, err := net.DialTimeout("tcp", brokerAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the embedded broker still listens on %s after Run returned", brokerAddr)
	}
	if len(fake.Requests()) != 0 {
		t.Errorf("%d cloud requests before the bridge ran", len(fake.Requests()))
	}
}
