package broker

import (
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
)

// TestRetainedMessagesOutliveADay runs mochi's own expiry loop (on a fake
// clock, testing/synctest) with the embedded broker's capabilities on two
// retained messages aged by 25 hours: the bridge's state is still there
// (mochi's default capabilities delete it after 24, which the same run
// with them shows), while a message whose publisher set a 60 s expiry is
// gone, as its publisher asked (which also shows that the loop ran).
//
// The messages are aged rather than the clock moved on by 25 hours: the
// loop decides from a message's creation and expiry times only, and
// moving the clock would wake its four one-second tickers 360,000 times.
func TestRetainedMessagesOutliveADay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		caps     *mqtt.Capabilities
		wantLamp bool
	}{
		{"embedded broker", nil, true},
		{"mochi's defaults", mqtt.NewDefaultServerCapabilities(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lamp, shortLived := retainedAfter25Hours(t, tc.caps)
			if lamp != tc.wantLamp {
				t.Errorf("after 25 h the retained state is kept: %v, want %v", lamp, tc.wantLamp)
			}
			if shortLived {
				t.Error("after 25 h the message its publisher gave a 60 s expiry is still retained")
			}
		})
	}
}

// retainedAfter25Hours publishes the bridge's retained state and an MQTT 5
// retained message with a 60 s expiry on a broker with the embedded
// broker's options (and caps instead of its capabilities, when set), ages
// both by 25 hours, lets the expiry loop run and reports which are left.
func retainedAfter25Hours(t *testing.T, caps *mqtt.Capabilities) (lamp, shortLived bool) {
	synctest.Test(t, func(t *testing.T) {
		o := serverOptions(Options{}, zap.NewNop())
		if caps != nil {
			o.Capabilities = caps
		}
		// $SYS statistics once a day instead of every second: they play no
		// part in expiry.
		o.SysTopicResendInterval = 86400
		srv := mqtt.New(o)
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()

		if err := srv.Publish("kasa2mqtt/lamp", []byte(`{"state":"ON"}`), true, 1); err != nil {
			t.Fatal(err)
		}
		pub := srv.NewClient(nil, mqtt.LocalListener, "publisher-v5", true)
		pub.Properties.ProtocolVersion = 5
		if err := srv.InjectPacket(pub, packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Publish, Retain: true},
			TopicName:       "other/short-lived",
			Payload:         []byte("bye"),
			ProtocolVersion: 5,
			Properties:      packets.Properties{MessageExpiryInterval: 60},
		}); err != nil {
			t.Fatal(err)
		}
		const age = 25 * 3600
		for _, topic := range []string{"kasa2mqtt/lamp", "other/short-lived"} {
			pk, ok := srv.Topics.Retained.Get(topic)
			if !ok {
				t.Fatalf("the retained message on %s was not stored", topic)
			}
			pk.Created -= age
			if pk.Expiry > 0 {
				pk.Expiry -= age
			}
			srv.Topics.Retained.Add(topic, pk)
		}

		time.Sleep(2 * time.Second) // the loop checks every second
		synctest.Wait()

		_, lamp = srv.Topics.Retained.Get("kasa2mqtt/lamp")
		_, shortLived = srv.Topics.Retained.Get("other/short-lived")
	})
	return lamp, shortLived
}

func TestCapabilities(t *testing.T) {
	c := Capabilities(0)
	if !c.Compatibilities.NoInheritedPropertiesOnAck {
		t.Error("acks would copy the publisher's properties")
	}
	if c.MaximumMessageExpiryInterval != 0 {
		t.Errorf("broker-imposed message expiry %d s, want none", c.MaximumMessageExpiryInterval)
	}
	if c.MaximumPacketSize != DefaultMaxPacketSize || DefaultMaxPacketSize != 8<<20 {
		t.Errorf("default maximum packet size %d, want 8 MiB", c.MaximumPacketSize)
	}
	if got := Capabilities(4096).MaximumPacketSize; got != 4096 {
		t.Errorf("maximum packet size %d, want 4096", got)
	}
}
