package cloud

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// resetTolerance is how far (kWh) a device counter may dip before it is
// treated as a reset rather than rounding noise.
const resetTolerance = 0.001

// EnergyMeter turns device energy readings into lifetime totals that never
// decrease, and persists them so that they survive daemon restarts.
//
// Two kinds of input are supported: Counter for devices that report a total
// that resets to zero on reboot (Kasa), and Add for devices that report the
// energy used since the previous report (Tuya add_ele). Keys are opaque and
// chosen by the provider (e.g. "kasa/<device id>").
//
// EnergyMeter is safe for concurrent use. Updates are kept in memory until
// Flush, or FlushSoon, which providers call after every read.
type EnergyMeter struct {
	path string

	mu      sync.Mutex
	entries map[string]*energyEntry
	dirty   bool
	written time.Time // last write
	calls   int       // FlushSoon calls since the last write
	now     func() time.Time
}

// EnergyFlushEvery is the longest FlushSoon lets changes wait.
const EnergyFlushEvery = 10 * time.Second

type energyEntry struct {
	// TotalKWh is the published lifetime total.
	TotalKWh float64 `json:"total_kwh"`
	// LastRawKWh is the device counter at the last reading (Counter only).
	LastRawKWh float64 `json:"last_raw_kwh"`
	// LastReportMS is the report time (ms) of the last report counted by
	// AddReport, so that a report delivered again, also after a restart,
	// is not counted twice.
	LastReportMS int64 `json:"last_report_ms,omitempty"`
}

// OpenEnergyMeter loads the totals stored at path (a missing file starts
// empty). An empty path gives a meter that never persists.
func OpenEnergyMeter(path string) (*EnergyMeter, error) {
	m := &EnergyMeter{path: path, entries: map[string]*energyEntry{}}
	if path == "" {
		return m, nil
	}
	if _, err := statefile.ReadJSON(path, &m.entries); err != nil {
		return nil, fmt.Errorf("open energy totals: %w", err)
	}
	if m.entries == nil {
		m.entries = map[string]*energyEntry{}
	}
	return m, nil
}

// Counter records a reading of a device counter that may reset to zero and
// returns the lifetime total. The first reading of a key adopts the device's
// own counter as the total; later readings add the increase, and a counter
// that went down (device reboot) adds the new value from zero.
// Negative, NaN and infinite readings are rejected.
func (m *EnergyMeter) Counter(key string, rawKWh float64) (float64, error) {
	if !validEnergy(rawKWh) {
		return 0, fmt.Errorf("energy counter %q: invalid reading %v", key, rawKWh)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	switch {
	case !ok:
		m.entries[key] = &energyEntry{TotalKWh: rawKWh, LastRawKWh: rawKWh}
		m.dirty = true
		return rawKWh, nil
	case rawKWh >= e.LastRawKWh:
		if rawKWh > e.LastRawKWh {
			e.TotalKWh += rawKWh - e.LastRawKWh
			e.LastRawKWh = rawKWh
			m.dirty = true
		}
	case rawKWh > e.LastRawKWh-resetTolerance:
		// Rounding noise: keep the old reference point.
	default:
		// Counter reset: everything since zero is new energy.
		e.TotalKWh += rawKWh
		e.LastRawKWh = rawKWh
		m.dirty = true
	}
	return e.TotalKWh, nil
}

// Add accumulates deltaKWh (energy used since the previous report) and
// returns the lifetime total. Negative, NaN and infinite deltas are rejected.
func (m *EnergyMeter) Add(key string, deltaKWh float64) (float64, error) {
	if !validEnergy(deltaKWh) {
		return 0, fmt.Errorf("energy delta %q: invalid reading %v", key, deltaKWh)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entryLocked(key)
	if deltaKWh > 0 {
		e.TotalKWh += deltaKWh
		m.dirty = true
	}
	return e.TotalKWh, nil
}

// AddReport accumulates the energy of one report of the energy used since
// the previous report (deltaKWh), identified by its report time reportMS
// (milliseconds, > 0): the report is counted only when reportMS is later
// than that of the last report counted for key, so a report that arrives
// twice (delivered again, or both pushed and polled) adds its energy once.
// It returns the lifetime total and whether this report was counted.
// Negative, NaN and infinite deltas and report times ≤ 0 are rejected.
func (m *EnergyMeter) AddReport(key string, deltaKWh float64, reportMS int64) (float64, bool, error) {
	if !validEnergy(deltaKWh) {
		return 0, false, fmt.Errorf("energy report %q: invalid reading %v", key, deltaKWh)
	}
	if reportMS <= 0 {
		return 0, false, fmt.Errorf("energy report %q: invalid report time %d", key, reportMS)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entryLocked(key)
	if reportMS <= e.LastReportMS {
		return e.TotalKWh, false, nil
	}
	e.LastReportMS = reportMS
	e.TotalKWh += deltaKWh
	m.dirty = true
	return e.TotalKWh, true, nil
}

// entryLocked returns key's entry, creating it at 0 (m.mu held).
func (m *EnergyMeter) entryLocked(key string) *energyEntry {
	e, ok := m.entries[key]
	if !ok {
		e = &energyEntry{}
		m.entries[key] = e
	}
	return e
}

// Total returns the current total for key and whether it is known.
func (m *EnergyMeter) Total(key string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return 0, false
	}
	return e.TotalKWh, true
}

// Flush writes the totals to disk when they changed since the last write.
func (m *EnergyMeter) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flushLocked()
}

// FlushSoon is Flush for a meter of up to ten totals; a larger one writes
// at every n/10th call (n totals) or after EnergyFlushEvery, whichever
// comes first, so the changes of about a tenth of the devices wait at
// most (the daemon calls Flush at exit). Reads come one device or batch
// at a time and every write is the whole file: for 2,000 devices a few
// hundred kB and an fsync per read otherwise. A crash loses what waited:
// for Tuya deltas, that energy; a Kasa counter catches up at its next
// reading.
func (m *EnergyMeter) FlushSoon() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls < len(m.entries)/10 && m.clock().Sub(m.written) < EnergyFlushEvery {
		return nil
	}
	return m.flushLocked()
}

func (m *EnergyMeter) flushLocked() error {
	if !m.dirty || m.path == "" {
		return nil
	}
	if err := statefile.WriteJSON(m.path, m.entries); err != nil {
		return fmt.Errorf("save energy totals: %w", err)
	}
	m.dirty, m.written, m.calls = false, m.clock(), 0
	return nil
}

func (m *EnergyMeter) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

func validEnergy(v float64) bool {
	return v >= 0 && !math.IsNaN(v) && !math.IsInf(v, 0)
}
