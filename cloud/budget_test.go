package cloud

import (
	"path/filepath"
	"testing"
	"time"
)

func TestParseBudget(t *testing.T) {
	for in, want := range map[string]Budget{
		"30000/month":   {30000, PeriodMonth},
		" 2000 / day ":  {2000, PeriodDay},
		"30_000/m":      {30000, PeriodMonth},
		"1,000,000/DAY": {1000000, PeriodDay},
		"none":          NoBudget,
		"None":          NoBudget,
	} {
		got, err := ParseBudget(in)
		if err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %v, %v; want %v", in, got, err, want)
		}
		if err == nil && got.String() != want.String() {
			t.Errorf("%q renders %q", in, got)
		}
	}
	for _, in := range []string{"", "30000", "0/day", "-5/day", "10/week", "x/month", "2000000000/day", "/month"} {
		if _, err := ParseBudget(in); err == nil {
			t.Errorf("ParseBudget(%q) accepted", in)
		}
	}
}

// The rate is the budget over the length of the period that holds t, in
// UTC: months differ.
func TestBudgetRateAndPeriods(t *testing.T) {
	b := Budget{Calls: 31 * 86400, Period: PeriodMonth}
	at := time.Date(2025, 1, 31, 23, 30, 0, 0, time.FixedZone("x", -3600)) // 1 Feb 00:30 UTC
	if got := b.PeriodStart(at); !got.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period start %v, want 1 Feb UTC", got)
	}
	if r := b.Rate(time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)); r != 1 {
		t.Errorf("rate in January %v, want 1/s", r)
	}
	if r := b.Rate(at); r <= 1 {
		t.Errorf("rate in February %v, want more than in January", r)
	}
	d := Budget{Calls: 2000, Period: PeriodDay}
	if got := d.Used(CallCounts{Day: 3, Month: 9}); got != 3 {
		t.Errorf("a day budget counts %d, want the day's 3", got)
	}
}

func FuzzParseBudget(f *testing.F) {
	for _, s := range []string{"30000/month", "2000/day", "none", "1_000/d", "", "/", "9999999999999999999/day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBudget(s)
		if err != nil {
			return
		}
		again, err := ParseBudget(b.String())
		if err != nil || again != b {
			t.Fatalf("%q parses to %v, which renders %q and parses to %v, %v", s, b, b.String(), again, err)
		}
		if !b.IsZero() && (b.Calls < 1 || b.Calls > MaxBudgetCalls || (b.Period != PeriodDay && b.Period != PeriodMonth)) {
			t.Fatalf("%q parses to %v", s, b)
		}
	})
}

// The ledger counts per UTC day and month, and a budgeted account's file
// never holds less than was spent: a crash (a ledger dropped without
// Flush) loses nothing of the count.
func TestCallLedger_WritesAheadForBudgets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud-calls.json")
	l, err := OpenCallLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC)
	l.Now = func() time.Time { return now }
	l.SetBudget("tuya", "garden", Budget{Calls: 2000, Period: PeriodDay})
	for range 7 {
		l.Add("tuya", "garden", now)
		l.Add("kasa", "home", now)
	}
	crashed, err := OpenCallLedger(path) // no Flush: as after kill -9
	if err != nil {
		t.Fatal(err)
	}
	if c := crashed.Counts("tuya", "garden", now); c.Day < 7 || c.Month < 7 || c.Day > 7+2 {
		t.Errorf("after a crash the budgeted account counts %+v, want 7 to 9 (written ahead by 2)", c)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenCallLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := again.Counts("kasa", "home", now); c.Day != 7 || c.Month != 7 {
		t.Errorf("after Flush the other account counts %+v, want 7", c)
	}
	// A new UTC day and month start from zero.
	next := now.Add(2 * time.Hour)
	if c := again.Counts("kasa", "home", next); c.Day != 0 || c.Month != 0 {
		t.Errorf("on 1 July the account counts %+v, want nothing", c)
	}
	again.Add("kasa", "home", next)
	if c := again.Counts("kasa", "home", next); c.Day != 1 || c.Month != 1 || c.Total != 1 {
		t.Errorf("after one call on 1 July %+v", c)
	}
}

type pushCounter struct{ frames int }

func (*pushCounter) CloudCall(_, _, _ string, _ error)     {}
func (*pushCounter) Login(_, _, _ string)                  {}
func (c *pushCounter) PushFrame(_, _, _, _ string)         { c.frames++ }
func (*pushCounter) PushReconnect(_, _ string)             {}
func (*pushCounter) PushReceived(_, _ string, _ time.Time) {}

// The ledger's observer keeps what the observer it wraps can do: push
// events still reach a PushObserver.
func TestCallLedger_ObserverPassesPushEventsOn(t *testing.T) {
	l, _ := OpenCallLedger("")
	next := &pushCounter{}
	po, ok := l.Observer(next).(PushObserver)
	if !ok {
		t.Fatal("the ledger's observer of a PushObserver is not one")
	}
	po.PushFrame("tuya", "garden", "4", PushApplied)
	if next.frames != 1 {
		t.Errorf("push frame not passed on")
	}
	if _, ok := l.Observer(nil).(PushObserver); ok {
		t.Error("the ledger's observer of nothing claims to observe pushes")
	}
}
