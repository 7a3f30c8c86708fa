package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// watcher is a Home Assistant-like MQTT client: it subscribes to the
// discovery prefix and the base topic and remembers, per topic, what it
// last saw and when.
type watcher struct {
	client paho.Client

	mu        sync.Mutex
	discovery map[string]time.Time // config topics with a payload: first seen
	states    map[string]time.Time // device state topics: first seen
	avail     map[string]string    // availability topics: last payload
	devices   []bridgeDevice       // the last bridge/devices
	info      json.RawMessage      // the last bridge/info
	messages  int
}

// bridgeDevice is the part of a bridge/devices entry the benchmark uses.
type bridgeDevice struct {
	ID           string   `json:"id"`
	Provider     string   `json:"provider"`
	Topic        string   `json:"topic"`
	Parent       *string  `json:"parent"`
	Capabilities []string `json:"capabilities"`
}

const baseTopic = "kasa2mqtt"

// watch connects to the broker at addr (retrying until it listens or
// the deadline passes) and subscribes.
func watch(addr string, deadline time.Time) (*watcher, error) {
	w := &watcher{discovery: map[string]time.Time{}, states: map[string]time.Time{}, avail: map[string]string{}}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-watcher").
		SetCleanSession(true).SetOrderMatters(false).SetAutoReconnect(true)
	opts.SetDefaultPublishHandler(w.onMessage)
	for {
		w.client = paho.NewClient(opts)
		tok := w.client.Connect()
		if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("broker %s: no connection", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok := w.client.SubscribeMultiple(map[string]byte{"homeassistant/#": 0, baseTopic + "/#": 0}, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("subscribe: %v", tok.Error())
	}
	return w, nil
}

func (w *watcher) onMessage(_ paho.Client, m paho.Message) {
	now := time.Now()
	topic, payload := m.Topic(), m.Payload()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages++
	switch {
	case strings.HasPrefix(topic, "homeassistant/") && strings.HasSuffix(topic, "/config"):
		if len(payload) == 0 {
			delete(w.discovery, topic)
		} else if _, ok := w.discovery[topic]; !ok {
			w.discovery[topic] = now
		}
	case topic == baseTopic+"/bridge/devices":
		var list []bridgeDevice
		if json.Unmarshal(payload, &list) == nil {
			w.devices = list
		}
	case topic == baseTopic+"/bridge/info":
		w.info = append(json.RawMessage(nil), payload...)
	case strings.HasPrefix(topic, baseTopic+"/bridge/"):
	case strings.HasSuffix(topic, "/availability"):
		w.avail[topic] = string(payload)
	case strings.HasPrefix(topic, "homeassistant/"):
	case strings.HasSuffix(topic, "/set"), strings.Contains(topic, "/set/"), strings.HasSuffix(topic, "/get"):
	case len(payload) > 0 && payload[0] == '{':
		if _, ok := w.states[topic]; !ok {
			w.states[topic] = now
		}
	}
}

// counts returns how many discovery and state topics were seen.
func (w *watcher) counts() (discovery, states int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.discovery), len(w.states)
}

// offline counts the availability topics whose last payload is not
// online.
func (w *watcher) offline() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.avail {
		if !strings.Contains(p, "online") {
			n++
		}
	}
	return n
}

// waitCount waits until want discovery topics (or, states set, state
// topics) were seen and returns when the last of them arrived.
func (w *watcher) waitCount(want int, states bool, deadline time.Time) (time.Time, bool) {
	for {
		w.mu.Lock()
		m := w.discovery
		if states {
			m = w.states
		}
		if len(m) >= want {
			var last time.Time
			for _, t := range m {
				if t.After(last) {
					last = t
				}
			}
			w.mu.Unlock()
			return last, true
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// plugs returns the topics of the bridged plugs with a relay (no strips,
// no outlets), by provider.
func (w *watcher) plugs() map[string][]bridgeDevice {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]bridgeDevice{}
	for _, d := range w.devices {
		if d.Parent != nil {
			continue
		}
		for _, c := range d.Capabilities {
			if c == "relay" {
				out[d.Provider] = append(out[d.Provider], d)
				break
			}
		}
	}
	return out
}

// publish sends a command and waits until the broker took it.
func (w *watcher) publish(topic, payload string) error {
	tok := w.client.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish %s: %v", topic, tok.Error())
	}
	return nil
}

// intervals returns the poll interval in use per account from the last
// bridge/info ("" when it shows none: a daemon without the field).
func (w *watcher) intervals() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var info struct {
		Accounts map[string]struct {
			Interval  float64 `json:"poll_interval_s"`
			Stretched string  `json:"poll_stretched"`
		} `json:"accounts"`
	}
	if json.Unmarshal(w.info, &info) != nil {
		return ""
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(info.Accounts)) {
		a := info.Accounts[name]
		if a.Interval == 0 {
			continue
		}
		s := fmt.Sprintf("%gs", a.Interval)
		if a.Stretched != "" {
			s += " (" + a.Stretched + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, " · ")
}

func (w *watcher) close() { w.client.Disconnect(100) }
