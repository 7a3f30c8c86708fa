package test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

// TestEmbeddedBrokerKeepsStateAcrossRestart: with persistence (the
// default), a restart of kasa2mqtt keeps another client's retained message
// and a QoS 1 message queued for an offline persistent session (Node-RED
// with "clean session" off), in <state_dir>/broker.db.
func TestEmbeddedBrokerKeepsStateAcrossRestart(t *testing.T) {
	t.Parallel()
	h := newEmbeddedHarness(t)
	h.fake.AddPlug(user, "Living Room Lamp", "HS103(US)")
	h.startEmbedded()
	addr := h.embeddedAddr()
	watch := dialV5(t, addr, "watch-1", true, 0)
	watch.subscribe(base + "/bridge/state")
	watch.waitMsg(0, base+"/bridge/state", "online")

	nodeRed := dialV5(t, addr, "node-red", false, 3600)
	nodeRed.subscribe("flows/in")
	nodeRed.close()
	other := dialV5(t, addr, "dashboard", true, 0)
	checkPuback(t, "retained publish", other.publish("dashboard/config", []byte("kept"), true, nil))
	other.publish("flows/in", []byte("queued while offline"), false, nil)
	other.close()
	watch.close()

	h.stop()
	file := filepath.Join(h.stateDir, config.EmbeddedStateFile)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("broker state file: %v (mode %v), want it with mode 0600", err, fi.Mode().Perm())
	}
	h.startEmbedded()

	nodeRed = dialV5(t, addr, "node-red", false, 3600)
	if !nodeRed.ack.SessionPresent {
		t.Error("the persistent session did not survive the restart (CONNACK session present = false)")
	}
	nodeRed.waitMsg(0, "flows/in", "queued while offline")
	fresh := dialV5(t, addr, "fresh", true, 0)
	fresh.subscribe("dashboard/config", base+"/bridge/state")
	m := fresh.waitMsg(0, "dashboard/config", "kept")
	if !m.Retain {
		t.Error("dashboard/config arrived without the retain flag")
	}
	fresh.waitMsg(0, base+"/bridge/state", "online")
}

// TestEmbeddedBrokerListenersAndLimit: the optional TLS and WebSocket
// listeners carry MQTT with the same credentials as the plain one, and a
// packet over max_packet_size (8 MiB by default, announced to MQTT 5
// clients) gets its sender disconnected while the bridge carries on.
func TestEmbeddedBrokerListenersAndLimit(t *testing.T) {
	t.Parallel()
	h := newEmbeddedHarness(t)
	lamp := h.fake.AddPlug(user, "Living Room Lamp", "HS103(US)")
	pki := newTestPKI(t, t.TempDir(), "broker.test")
	e := &h.cfg.MQTT.Embedded
	e.TLS = config.EmbeddedTLS{Listen: freeAddr(t), Cert: pki.serverCert, Key: pki.serverKey}
	e.WebSocket.Listen = freeAddr(t)
	h.cfg.MQTT.Username, h.cfg.MQTT.Password = "bridge", "br1dge-secret"
	h.startEmbedded()

	caPEM, err := os.ReadFile(pki.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	for _, tc := range []struct {
		name, url string
		tls       *tls.Config
	}{
		{"tls", "ssl://" + e.TLS.Listen, &tls.Config{RootCAs: pool, ServerName: "broker.test", MinVersion: tls.VersionTLS12}},
		{"websocket", "ws://" + e.WebSocket.Listen + "/mqtt", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 16)
			opts := paho.NewClientOptions().AddBroker(tc.url).SetClientID("over-" + tc.name).
				SetUsername("bridge").SetPassword("br1dge-secret").SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
			if tc.tls != nil {
				opts.SetTLSConfig(tc.tls)
			}
			c := paho.NewClient(opts)
			if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("connect over %s: %v", tc.name, tok.Error())
			}
			defer c.Disconnect(100)
			if tok := c.Subscribe(base+"/living_room_lamp", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("subscribe over %s: %v", tc.name, tok.Error())
			}
			// The lamp's retained state first: the bridge knows the device
			// (a command that comes before the first list is dropped).
			select {
			case <-got:
			case <-time.After(waitFor):
				t.Fatalf("no retained state of the lamp over %s", tc.name)
			}
			want := map[string]string{"tls": `"state":"ON"`, "websocket": `"state":"OFF"`}[tc.name]
			if tok := c.Publish(base+"/living_room_lamp/set", 1, false, strings.Trim(strings.Split(want, ":")[1], `"`)); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("publish over %s: %v", tc.name, tok.Error())
			}
			deadline := time.After(waitFor)
			for {
				select {
				case p := <-got:
					if strings.Contains(p, want) {
						return
					}
				case <-deadline:
					t.Fatalf("no state with %s over %s", want, tc.name)
				}
			}
		})
	}
	if got := h.fake.RelayHistory(lamp); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("commands over TLS and WebSocket applied: %v, want [true false]", got)
	}

	// A packet over the limit: the sender is told and disconnected.
	big := dialV5Connect(t, h.embeddedAddr(), &paho5.Connect{ClientID: "too-big", KeepAlive: 30, CleanStart: true,
		Username: "bridge", UsernameFlag: true, Password: []byte("br1dge-secret"), PasswordFlag: true})
	if big.ack.Properties == nil || big.ack.Properties.MaximumPacketSize == nil || *big.ack.Properties.MaximumPacketSize != 8<<20 {
		t.Errorf("CONNACK does not announce a maximum packet size of 8 MiB: %+v", big.ack.Properties)
	}
	go func() { // returns once written, or with the closed connection
		_, _ = big.c.Publish(t.Context(), &paho5.Publish{Topic: base + "/living_room_lamp/set", Payload: make([]byte, 8<<20)})
	}()
	select {
	case <-big.c.Done():
	case <-time.After(waitFor):
		t.Error("the broker kept the connection of a client that sent a packet over 8 MiB")
	}
	if r := len(h.fake.RelayHistory(lamp)); r != 2 {
		t.Errorf("%d commands applied after the oversized one, want still 2", r)
	}
}
