package bridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// callLog records when (on the fake clock) each cloud call was made.
type callLog struct {
	clock *fakeClock
	mu    sync.Mutex
	at    []time.Time
}

func (l *callLog) CloudCall(_, _, _ string, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, l.clock.Now())
}
func (l *callLog) Login(_, _, _ string) {}

func (l *callLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

// A month on a fake clock, against the fake Kasa cloud: an account with a
// budget of 600 calls a month and five plugs, polled with a one-minute
// interval, never spends more than its budget, spends it evenly (after
// start-up, no day holds more than a day's share plus the burst), and a
// restart in the middle of the month carries on from the stored counts.
func TestBudget_SimulatedMonth(t *testing.T) {
	const user, pass = "owner@example.com", "secret"
	fake := kasatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddAccount(user, pass)
	for i := range 5 {
		// On, so that no plug is read less often for being idle.
		fake.SetRelay(fake.AddPlug(user, fmt.Sprintf("Plug %d", i), "HS103(US)"), true)
	}
	clk := newFakeClock() // 1 June 12:00 UTC
	dir := t.TempDir()
	budget := cloud.Budget{Calls: 600, Period: cloud.PeriodMonth}
	calls := &callLog{clock: clk}
	month := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

	// run polls from now until `until` and returns the ledger's count of
	// the month when it opened.
	run := func(until time.Time) int {
		ledger, err := cloud.OpenCallLedger(filepath.Join(dir, "cloud-calls.json"))
		if err != nil {
			t.Fatal(err)
		}
		ledger.Now = clk.Now
		ledger.SetBudget(kasa.ProviderKind, "home", budget)
		opened := ledger.Counts(kasa.ProviderKind, "home", clk.Now()).Month
		prov, err := kasa.New(kasa.Options{Account: "home", Username: user, Password: pass, URL: fake.URL(),
			HTTPClient: fake.Client(), StateDir: dir, Observer: ledger.Observer(calls)})
		if err != nil {
			t.Fatal(err)
		}
		events := make(chan event, 64)
		p := &poller{prov: prov, pollInterval: time.Minute, listInterval: 30 * time.Minute,
			skip: func(string) bool { return false }, events: events, relist: make(chan struct{}, 1),
			pace: newPacer(budget, accountCalls(ledger, prov)), log: zap.NewNop(), clock: clk}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { p.run(ctx) })
		wg.Go(func() {
			for {
				select {
				case <-events:
				case <-ctx.Done():
					return
				}
			}
		})
		for clk.Now().Before(until) {
			clk.waitArmed(t, 2) // the list timer and the next read: the poller waits
			clk.advanceNext(until)
		}
		cancel()
		wg.Wait()
		if err := ledger.Flush(); err != nil {
			t.Fatal(err)
		}
		return opened
	}

	if n := run(time.Date(2025, 6, 15, 8, 0, 0, 0, time.UTC)); n != 0 {
		t.Fatalf("a new ledger counted %d calls", n)
	}
	before := len(calls.times())
	if n := run(month); n < before {
		t.Errorf("after the restart the ledger counted %d calls of the month, fewer than the %d made", n, before)
	}

	all := calls.times()
	if len(all) > budget.Calls {
		t.Fatalf("%d calls in the month, budget %s", len(all), budget)
	}
	t.Logf("%d calls in the month", len(all))
	if len(all) < budget.Calls/2 {
		t.Errorf("only %d calls in the month: the budget of %s was hardly used", len(all), budget)
	}
	// Paced: after start-up, any day holds at most a day's share plus the
	// burst, plus one start-up (the list and the first reads after the
	// restart) when it spans the restart.
	const startup = 1 + 5 + 5 // login and list, the first reads
	limit := float64(budget.Calls)/30 + minBurst + startup
	for _, start := range all {
		if start.Before(all[0].Add(time.Hour)) {
			continue
		}
		n := 0
		for _, at := range all {
			if !at.Before(start) && at.Before(start.Add(24*time.Hour)) {
				n++
			}
		}
		if float64(n) > limit {
			t.Fatalf("%d calls in the day from %s, want at most %.0f", n, start.Format(time.DateTime), limit)
		}
	}
}

// Commands are refused once the period's budget cannot take a command and
// its confirming read, with the numbers and when it renews.
func TestCommandAllowed_OnlyWithinThePeriodsBudget(t *testing.T) {
	l, err := cloud.OpenCallLedger("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	b := cloud.Budget{Calls: 10, Period: cloud.PeriodDay}
	for range 8 {
		l.Add("kasa", "home", now)
	}
	if err := commandAllowed(l, b, home, now); err != nil {
		t.Errorf("8 of 10 calls used: %v", err)
	}
	l.Add("kasa", "home", now)
	err = commandAllowed(l, b, home, now)
	if !errors.Is(err, errBudgetSpent) || !strings.Contains(err.Error(), "9 of 10/day") || !strings.Contains(err.Error(), "2025-06-02T00:00:00Z") {
		t.Errorf("9 of 10 calls used: %v, want the budget spent, with the numbers", err)
	}
	if err := commandAllowed(l, cloud.NoBudget, home, now); err != nil {
		t.Errorf("without a budget: %v", err)
	}
}
