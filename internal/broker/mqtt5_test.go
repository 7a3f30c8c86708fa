package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// puback publishes a QoS 1 message with user properties, a response topic
// and correlation data as an MQTT 5 client and returns the broker's answer.
func puback(t *testing.T, addr string) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "mqtt5", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	resp, err := c.Publish(ctx, &paho.Publish{
		QoS: 1, Topic: "kasa2mqtt/lamp/set", Payload: []byte("TOGGLE"),
		Properties: &paho.PublishProperties{
			User:            paho.UserProperties{{Key: "source", Value: "node-red"}},
			ResponseTopic:   "node-red/reply",
			CorrelationData: []byte("req-1"),
		},
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return resp
}

// TestPubackIsValidForMQTT5: the PUBACK for a QoS 1 publish with user
// properties is a plain success, without the publisher's properties.
// mochi's defaults answer reason 0x01 (not a PUBACK reason) with the user
// properties copied, which MQTT.js rejects; the control logs that.
func TestPubackIsValidForMQTT5(t *testing.T) {
	b, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	resp := puback(t, b.Addr())
	if resp.ReasonCode != 0 {
		t.Errorf("PUBACK reason code 0x%02x, want 0x00", resp.ReasonCode)
	}
	if resp.Properties != nil && (len(resp.Properties.User) != 0 || resp.Properties.ReasonString != "") {
		t.Errorf("PUBACK carries properties %+v", *resp.Properties)
	}

	// Control: mochi with its default capabilities.
	srv := mqtt.New(&mqtt.Options{Capabilities: mqtt.NewDefaultServerCapabilities(), Logger: serverOptions(Options{}, nil).Logger})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctl := puback(t, l.Address())
	var user paho.UserProperties
	if ctl.Properties != nil {
		user = ctl.Properties.User
	}
	t.Logf("mochi defaults (control): PUBACK reason 0x%02x, user properties %v", ctl.ReasonCode, user)
}
