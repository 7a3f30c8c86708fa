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

// TestRetainedMessagesOutliveADay runs mochi's own expiry loop on a fake
// clock (testing/synctest) with the embedded broker's capabilities: after
// 25 hours a retained message is still there (mochi's default capabilities
// delete it after 24), while a retained message whose publisher set a 60 s
// expiry is gone, as its publisher asked (which also shows that the expiry
// loop ran).
func TestRetainedMessagesOutliveADay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := serverOptions(Options{}, zap.NewNop())
		// $SYS statistics once a day instead of every second: they play no
		// part in expiry and would make the test slow.
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
		for _, topic := range []string{"kasa2mqtt/lamp", "other/short-lived"} {
			if _, ok := srv.Topics.Retained.Get(topic); !ok {
				t.Fatalf("the retained message on %s was not stored", topic)
			}
		}

		time.Sleep(25 * time.Hour)
		synctest.Wait()

		if _, ok := srv.Topics.Retained.Get("kasa2mqtt/lamp"); !ok {
			t.Error("after 25 h the retained state is gone")
		}
		if _, ok := srv.Topics.Retained.Get("other/short-lived"); ok {
			t.Error("after 25 h the message its publisher gave a 60 s expiry is still retained")
		}
	})
}

func TestCapabilities(t *testing.T) {
	c := Capabilities(0)
	if !c.Compatibilities.NoInheritedPropertiesOnAck {
		t.Error("acks would copy the publisher's properties")
	}
	if c.MaximumMessageExpiryInterval != 0 {
		t.Errorf("broker-imposed message expiry %d s, want none", c.MaximumMessageExpiryInterval)
	}
	if c.MaximumPacketSize != DefaultMaxPacketSize || DefaultMaxPacketSize != 1<<20 {
		t.Errorf("default maximum packet size %d, want 1 MiB", c.MaximumPacketSize)
	}
	if got := Capabilities(4096).MaximumPacketSize; got != 4096 {
		t.Errorf("maximum packet size %d, want 4096", got)
	}
}
