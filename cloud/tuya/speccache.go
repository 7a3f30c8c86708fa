package tuya

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// specCache keeps the devices' specifications in
// <state_dir>/tuya-<account>-specs.json, so that a restart does not read
// them again (each read is a call against the project's quota): they are
// trusted for specTTL from when they were read, restarts included.
type specCache struct {
	path string // "" without a state directory
}

// cachedSpec is one device's specification as stored.
type cachedSpec struct {
	Product string        `json:"product"`
	At      time.Time     `json:"at"`
	Spec    specification `json:"spec"`
}

func newSpecCache(stateDir, account string) specCache {
	if stateDir == "" {
		return specCache{}
	}
	return specCache{path: filepath.Join(stateDir, "tuya-"+account+"-specs.json")}
}

// load returns the stored specifications by device id (none when there
// is no file). A file that cannot be read is an error: the caller logs it
// and reads the specifications again.
func (c specCache) load() (map[string]cachedSpec, error) {
	out := map[string]cachedSpec{}
	if c.path == "" {
		return out, nil
	}
	if _, err := statefile.ReadJSON(c.path, &out); err != nil {
		return map[string]cachedSpec{}, fmt.Errorf("tuya specifications: %w", err)
	}
	if out == nil {
		out = map[string]cachedSpec{}
	}
	return out, nil
}

// save stores the specifications of the devices that have one.
func (c specCache) save(devices map[string]*physDevice) error {
	if c.path == "" {
		return nil
	}
	out := make(map[string]cachedSpec, len(devices))
	for id, d := range devices {
		if d.spec != nil {
			out[id] = cachedSpec{Product: d.specProduct, At: d.specAt.UTC(), Spec: d.spec}
		}
	}
	if err := statefile.WriteJSON(c.path, out); err != nil {
		return fmt.Errorf("tuya specifications: %w", err)
	}
	return nil
}
