package bridge

import (
	"path/filepath"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// knownDevice is what the bridge remembers about a published device so that
// it can clear its retained topics even after a restart (no ghosts when a
// device disappeared from the account while the daemon was down).
type knownDevice struct {
	Account     string `json:"account"`
	Provider    string `json:"provider"`
	ID          string `json:"id"`
	Topic       string `json:"topic"`
	ConfigTopic string `json:"config_topic,omitempty"`
	// Components are the ids of the components Home Assistant may hold
	// for the device (discovery.ComponentIDs of its last payload, and
	// removed ones whose stubs the broker has not accepted yet); empty
	// without discovery. Nil in a record of a release that did not keep
	// them.
	Components []string `json:"components"`
}

// knownFile persists knownDevice records in <state_dir>/bridge-devices.json.
type knownFile struct{ path string }

func newKnownFile(stateDir string) knownFile {
	if stateDir == "" {
		return knownFile{}
	}
	return knownFile{path: filepath.Join(stateDir, "bridge-devices.json")}
}

func (k knownFile) load() (map[string]knownDevice, error) {
	m := map[string]knownDevice{}
	if k.path == "" {
		return m, nil
	}
	if _, err := statefile.ReadJSON(k.path, &m); err != nil {
		return map[string]knownDevice{}, err
	}
	if m == nil {
		m = map[string]knownDevice{}
	}
	return m, nil
}

func (k knownFile) save(m map[string]knownDevice) error {
	if k.path == "" {
		return nil
	}
	return statefile.WriteJSON(k.path, m)
}
