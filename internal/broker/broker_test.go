package broker

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func connect(b *Broker, user, pass string) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).
		SetClientID("t-" + user + pass).SetUsername(user).SetPassword(pass).SetConnectTimeout(5 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return paho.ErrNotConnected
	}
	if tok.Error() == nil {
		c.Disconnect(50)
	}
	return tok.Error()
}

func TestStartWithCredentialsRefusesOthers(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0", Username: "bridge", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := connect(b, "bridge", "s3cret"); err != nil {
		t.Fatalf("right credentials refused: %v", err)
	}
	if err := connect(b, "bridge", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := connect(b, "", ""); err == nil {
		t.Fatal("anonymous client accepted when credentials are configured")
	}
}

func TestStartOpenAndCloseTwice(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(b, "", ""); err != nil {
		t.Fatalf("anonymous client refused on an open broker: %v", err)
	}
	_ = b.Close()
	_ = b.Close() // mochi panics on a second Close; ours must not
}

func TestStartReportsBusyAddress(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Start(Options{Listen: b.Addr()}); err == nil {
		t.Fatalf("second broker on %s started", b.Addr())
	}
}
