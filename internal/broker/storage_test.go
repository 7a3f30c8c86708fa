package broker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func connectClient(t *testing.T, addr, id string, clean bool, onMsg paho.MessageHandler) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if onMsg != nil {
		opts.SetDefaultPublishHandler(onMsg)
	}
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

func wait(t *testing.T, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: %v", what, tok.Error())
	}
}

// TestStateSurvivesRestart: retained messages and a persistent session
// with a queued QoS 1 message come back after the broker restarts on the
// same state file, and the file is private.
func TestStateSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "broker.db")
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	// A persistent session subscribes, then goes offline.
	nodeRed := connectClient(t, addr, "node-red", false, nil)
	wait(t, nodeRed.Subscribe("flows/in", 1, nil), "subscribe")
	nodeRed.Disconnect(50)
	// Another client leaves a retained message and a message for the
	// offline session.
	other := connectClient(t, addr, "other", true, nil)
	wait(t, other.Publish("other/retained", 1, true, "kept"), "publish retained")
	wait(t, other.Publish("flows/in", 1, false, "queued 1"), "publish queued")
	wait(t, other.Publish("flows/in", 1, false, "queued 2"), "publish queued")
	other.Disconnect(50)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}

	b, err = Start(Options{Listen: addr, StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	got := make(chan string, 4)
	nodeRed = connectClient(t, addr, "node-red", false, func(_ paho.Client, m paho.Message) {
		got <- m.Topic() + "=" + string(m.Payload())
	})
	defer nodeRed.Disconnect(50)
	// Both, in either order: mochi resends a session's queued messages
	// sorted by the second they were published in, so messages of the
	// same second may swap (docs/broker.md).
	var recv []string
	for range 2 {
		select {
		case m := <-got:
			recv = append(recv, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("the persistent session's queued messages did not survive the restart: got %v", recv)
		}
	}
	slices.Sort(recv)
	if !slices.Equal(recv, []string{"flows/in=queued 1", "flows/in=queued 2"}) {
		t.Errorf("the persistent session got %v", recv)
	}
	fresh := connectClient(t, addr, "fresh", true, nil)
	defer fresh.Disconnect(50)
	retained := make(chan string, 1)
	wait(t, fresh.Subscribe("other/retained", 1, func(_ paho.Client, m paho.Message) { retained <- string(m.Payload()) }), "subscribe")
	select {
	case p := <-retained:
		if p != "kept" {
			t.Errorf("retained message %q after the restart", p)
		}
	case <-time.After(5 * time.Second):
		t.Error("another client's retained message did not survive the restart")
	}
}

// TestStateFileLockedByAnotherBroker: a second instance on the same state
// file fails with a clear error instead of waiting or corrupting it.
func TestStateFileLockedByAnotherBroker(t *testing.T) {
	old := lockTimeout
	lockTimeout = 200 * time.Millisecond
	t.Cleanup(func() { lockTimeout = old })
	file := filepath.Join(t.TempDir(), "broker.db")
	a, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = Start(Options{Listen: "127.0.0.1:0", StateFile: file})
	if !errors.Is(err, ErrStateLocked) {
		t.Fatalf("second broker on the same state file: %v, want ErrStateLocked", err)
	}
	for _, want := range []string{file, "another kasa2mqtt", "state_dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestDamagedStateFileIsMovedAside: a state file that cannot be read back
// is kept for inspection and the broker starts empty, with an error log.
func TestDamagedStateFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "broker.db")
	if err := os.WriteFile(file, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.ErrorLevel)
	b, err := Start(Options{Listen: "127.0.0.1:0", StateFile: file, Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("start on a damaged state file: %v", err)
	}
	defer b.Close()
	if logs.FilterMessageSnippet("cannot be read").Len() != 1 {
		t.Errorf("no error log about the damaged state file: %v", logs.All())
	}
	aside, _ := filepath.Glob(file + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file not kept aside: %v", aside)
	}
	c := connectClient(t, b.Addr(), "after", true, nil)
	wait(t, c.Publish("x/y", 1, true, "v"), "publish after recovery")
	c.Disconnect(50)
}
