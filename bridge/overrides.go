package bridge

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// runtimeOption is a per-device override set over MQTT
// (bridge/request/device/options). Nil fields leave the configuration's
// value in force.
type runtimeOption struct {
	Name     *string `json:"name,omitempty"`
	Topic    *string `json:"topic,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// overrides merges the configured device overrides with the ones set at
// runtime, which are persisted in <state_dir>/device-options.json and win.
// Safe for concurrent use: pollers read it, the run loop writes it.
type overrides struct {
	path   string
	config map[string]DeviceOverride

	mu      sync.RWMutex
	runtime map[string]runtimeOption
}

func newOverrides(config map[string]DeviceOverride, stateDir string) (*overrides, error) {
	o := &overrides{config: config, runtime: map[string]runtimeOption{}}
	if stateDir == "" {
		return o, nil
	}
	o.path = filepath.Join(stateDir, "device-options.json")
	if _, err := statefile.ReadJSON(o.path, &o.runtime); err != nil {
		o.runtime = map[string]runtimeOption{}
		return o, fmt.Errorf("device options set over MQTT are lost: %w", err)
	}
	if o.runtime == nil {
		o.runtime = map[string]runtimeOption{}
	}
	return o, nil
}

// get returns the effective override of a device id.
func (o *overrides) get(id string) DeviceOverride {
	if o == nil {
		return DeviceOverride{}
	}
	d := o.config[id]
	o.mu.RLock()
	r, ok := o.runtime[id]
	o.mu.RUnlock()
	if ok {
		if r.Name != nil {
			d.Name = *r.Name
		}
		if r.Topic != nil {
			d.Topic = *r.Topic
		}
		if r.Disabled != nil {
			d.Disabled = *r.Disabled
		}
	}
	return d
}

// set merges r into the runtime options of id and persists them.
func (o *overrides) set(id string, r runtimeOption) error {
	o.mu.Lock()
	cur := o.runtime[id]
	if r.Name != nil {
		cur.Name = r.Name
	}
	if r.Topic != nil {
		cur.Topic = r.Topic
	}
	if r.Disabled != nil {
		cur.Disabled = r.Disabled
	}
	o.runtime[id] = cur
	var err error
	if o.path != "" {
		err = statefile.WriteJSON(o.path, o.runtime)
	}
	o.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save device options: %w", err)
	}
	return nil
}

// topicPattern is what a device topic may look like: lower-case letters,
// digits, '_' and '-', with '/' between levels.
var topicPattern = regexp.MustCompile(`^[a-z0-9_-]+(/[a-z0-9_-]+)*$`)

// checkTopic validates a device topic set at runtime (the configuration
// applies the same rules when it is loaded).
func checkTopic(t string) error {
	if !topicPattern.MatchString(t) {
		return errors.New("topic must be lower-case letters, digits, '_' and '-', with '/' between levels")
	}
	for i, seg := range strings.Split(t, "/") {
		switch {
		case i == 0 && reservedTopics[seg]:
			return fmt.Errorf("topic %q is reserved for the bridge", seg)
		case seg == "set" || seg == "get" || seg == "availability":
			return fmt.Errorf("topic level %q is reserved for commands and availability", seg)
		}
	}
	return nil
}
