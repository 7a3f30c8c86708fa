package broker

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.etcd.io/bbolt"
)

// holdWrites makes the state file's writer wait an hour before it writes
// a batch, so that a test decides when batches are written (Flush) or
// lost (abandon).
func holdWrites(t *testing.T) {
	old := flushDelay
	flushDelay = time.Hour
	t.Cleanup(func() { flushDelay = old })
}

// heldBroker starts a broker on a new state file whose batches are written
// only when the test says so (holdWrites), with a client connected.
func heldBroker(t *testing.T) (*Broker, paho.Client, string) {
	t.Helper()
	holdWrites(t)
	file := filepath.Join(t.TempDir(), "broker.db")
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, connectClient(t, b.Addr(), "publisher", true, nil), file
}

// retainedAfterRestart starts a broker on file and returns the retained
// payload of each topic ("" when there is none).
func retainedAfterRestart(t *testing.T, file string, topics ...string) map[string]string {
	t.Helper()
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatalf("restart on the state file: %v", err)
	}
	defer b.Close()
	got := map[string]string{}
	for _, topic := range topics {
		got[topic] = ""
		if pk, ok := b.Server().Topics.Retained.Get(topic); ok {
			got[topic] = string(pk.Payload)
		}
	}
	return got
}

func publishRetained(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	wait(t, c.Publish(topic, 1, true, payload), "publish "+topic)
}

// TestCrashLosesOnlyTheUnwrittenBatch: acknowledged retained changes are
// written in batches; a crash loses the batch not written yet (at most
// flushDelay of changes, docs/broker.md) and nothing before it, and the
// file stays readable.
func TestCrashLosesOnlyTheUnwrittenBatch(t *testing.T) {
	b, c, file := heldBroker(t)
	publishRetained(t, c, "a", "1")
	publishRetained(t, c, "gone", "soon")
	if err := b.store.w.Flush(); err != nil { // the batch's time came
		t.Fatal(err)
	}
	publishRetained(t, c, "a", "2")
	publishRetained(t, c, "b", "new")
	publishRetained(t, c, "gone", "")
	c.Disconnect(50)
	b.store.w.abandon() // the process dies before the next batch
	_ = b.Close()

	if err := checkStateFile(file); err != nil {
		t.Fatalf("the state file after a crash: %v", err)
	}
	got := retainedAfterRestart(t, file, "a", "b", "gone")
	want := map[string]string{"a": "1", "b": "", "gone": "soon"}
	for topic, w := range want {
		if got[topic] != w {
			t.Errorf("retained %s after the crash = %q, want %q (the written batch, without the lost one)", topic, got[topic], w)
		}
	}
}

// TestBatchKeepsTheNewest: many changes of a topic within one batch leave
// the newest on disk, a clear in a later batch removes the record, and a
// clean stop writes what is pending.
func TestBatchKeepsTheNewest(t *testing.T) {
	b, c, file := heldBroker(t)
	publishRetained(t, c, "cleared", "x")
	if err := b.store.w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		c.Publish("state", 1, true, fmt.Sprint(i)) // pipelined, in order
	}
	publishRetained(t, c, "cleared", "")
	c.Disconnect(50)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	got := retainedAfterRestart(t, file, "state", "cleared")
	if got["state"] != "99" || got["cleared"] != "" {
		t.Errorf("after a clean stop: state %q (want the newest, 99), cleared %q (want none)", got["state"], got["cleared"])
	}
}

// TestBatchesAreWrittenWithoutStop: a batch reaches the file flushDelay
// after its first change, while the broker runs.
func TestBatchesAreWrittenWithoutStop(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker.db")
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := connectClient(t, b.Addr(), "publisher", true, nil)
	defer c.Disconnect(50)
	publishRetained(t, c, "kept", "v")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var stored bool
		_ = b.store.db.View(func(tx *bbolt.Tx) error {
			stored = tx.Bucket([]byte(stateBucket)).Get([]byte(retainedKey("kept"))) != nil
			return nil
		})
		if stored {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the retained message was not written to the state file while the broker ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStateFileOfMochisHookLoads: a state file written by mochi's own
// bbolt hook (kasa2mqtt before batched writes) keeps its retained
// messages and persistent sessions.
func TestStateFileOfMochisHookLoads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker.db")
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddHook(new(bolt.Hook), &bolt.Options{Path: file, Bucket: stateBucket}); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	sess := connectClient(t, tcp.Address(), "node-red", false, nil)
	wait(t, sess.Subscribe("flows/in", 1, nil), "subscribe")
	sess.Disconnect(50)
	c := connectClient(t, tcp.Address(), "publisher", true, nil)
	publishRetained(t, c, "old/retained", "from mochi's hook")
	c.Disconnect(50)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	if got := retainedAfterRestart(t, file, "old/retained"); got["old/retained"] != "from mochi's hook" {
		t.Errorf("retained message from the old file: %q", got["old/retained"])
	}
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, ok := b.Server().Clients.Get("node-red")
	if !ok {
		t.Fatal("the persistent session of the old file did not come back")
	}
	if _, sub := cl.State.Subscriptions.Get("flows/in"); !sub {
		t.Error("the persistent session of the old file came back without its subscription")
	}
}
