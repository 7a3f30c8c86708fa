package cloud

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnergyMeterCounterNeverDecreases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "energy.json")
	m, err := OpenEnergyMeter(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		raw, want float64
	}{
		{10, 10},        // first reading adopts the device's counter
		{12.5, 12.5},    // normal increase
		{12.4995, 12.5}, // rounding noise is not a reset
		{0.2, 12.7},     // reboot: the counter restarted from zero
		{1.2, 13.7},
	}
	for _, s := range steps {
		got, err := m.Counter("kasa/a", s.raw)
		if err != nil || math.Abs(got-s.want) > 1e-9 {
			t.Fatalf("Counter(%v) = %v, %v; want %v", s.raw, got, err, s.want)
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := m.Counter("kasa/a", bad); err == nil {
			t.Errorf("Counter(%v) accepted", bad)
		}
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("energy file: %v mode %v", err, fi.Mode())
	}

	// After a restart the total continues; a counter that reset while the
	// daemon was down still never makes the total go back.
	m2, err := OpenEnergyMeter(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m2.Counter("kasa/a", 0.5); math.Abs(got-14.2) > 1e-9 {
		t.Fatalf("after restart and reset: total %v, want 14.2", got)
	}
}

func TestEnergyMeterAddAccumulatesDeltas(t *testing.T) {
	m, _ := OpenEnergyMeter("")
	for _, d := range []float64{0.1, 0.2, 0, 0.05} {
		if _, err := m.Add("tuya/x", d); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := m.Total("tuya/x"); !ok || math.Abs(got-0.35) > 1e-9 {
		t.Fatalf("total = %v, %v; want 0.35", got, ok)
	}
	if _, err := m.Add("tuya/x", -0.1); err == nil {
		t.Fatal("negative delta accepted")
	}
	if err := m.Flush(); err != nil { // no path: never persists
		t.Fatal(err)
	}
}

func TestOpenEnergyMeterReportsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "energy.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenEnergyMeter(path); err == nil {
		t.Fatal("a corrupt energy file was silently accepted")
	}
}

func TestEnergyMeterAddReportCountsEachReportOnceAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "energy.json")
	m, err := OpenEnergyMeter(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		delta   float64
		at      int64
		counted bool
		total   float64
	}{
		{0.1, 1000, true, 0.1},
		{0.1, 1000, false, 0.1}, // the same report again (redelivered, or pushed and polled)
		{0.2, 2000, true, 0.3},
		{0.5, 1500, false, 0.3}, // older than the last counted one
	}
	for i, s := range steps {
		total, counted, err := m.AddReport("tuya/x", s.delta, s.at)
		if err != nil || counted != s.counted || math.Abs(total-s.total) > 1e-9 {
			t.Fatalf("step %d: AddReport = %v, %v, %v; want %v, %v", i, total, counted, err, s.total, s.counted)
		}
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	// After a restart the last counted report is still known.
	m2, err := OpenEnergyMeter(path)
	if err != nil {
		t.Fatal(err)
	}
	if total, counted, _ := m2.AddReport("tuya/x", 0.2, 2000); counted || math.Abs(total-0.3) > 1e-9 {
		t.Fatalf("report delivered again after a restart: total %v, counted %v", total, counted)
	}
	for _, bad := range []struct {
		d  float64
		at int64
	}{{-1, 3000}, {math.NaN(), 3000}, {math.Inf(1), 3000}, {0.1, 0}, {0.1, -5}} {
		if _, _, err := m2.AddReport("tuya/x", bad.d, bad.at); err == nil {
			t.Errorf("AddReport(%v, %d) accepted", bad.d, bad.at)
		}
	}
}

// FlushSoon writes a small meter at every call, a large one at every
// tenth of its size in calls (reads come one device at a time).
func TestEnergyMeter_FlushSoonSpreadsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "energy.json")
	m, err := OpenEnergyMeter(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return at } // no time passes
	stored := func() int {
		t.Helper()
		m2, err := OpenEnergyMeter(path)
		if err != nil {
			t.Fatal(err)
		}
		return len(m2.entries)
	}
	if _, err := m.Counter("kasa/a", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.FlushSoon(); err != nil || stored() != 1 {
		t.Fatalf("a meter of one total: FlushSoon wrote %d (%v)", stored(), err)
	}
	for i := range 100 {
		if _, err := m.Counter(fmt.Sprintf("kasa/%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 10; i++ {
		if err := m.FlushSoon(); err != nil {
			t.Fatal(err)
		}
		if n := stored(); n != 1 {
			t.Fatalf("call %d of a meter of 101 totals wrote (%d stored)", i, n)
		}
	}
	if err := m.FlushSoon(); err != nil || stored() != 101 {
		t.Fatalf("the tenth call stored %d totals (%v), want 101", stored(), err)
	}
}
