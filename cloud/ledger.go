package cloud

import (
	"fmt"
	"sync"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// CallCounts are one account's cloud calls.
type CallCounts struct {
	// Day and Month count the calls of the current calendar day and month
	// in UTC.
	Day, Month int
	// Total counts every call since the ledger was opened; it only grows
	// (for pacing).
	Total uint64
}

// CallLedger counts every cloud call per account and calendar day and
// month (UTC), and keeps the counts in a state file so that a call budget
// holds across restarts. Feed it through Observer (it sees what the
// providers' observers see).
//
// For an account with a budget (SetBudget), the file never holds less
// than was spent: before a count passes what the file says, the file is
// rewritten with a reserve (a thousandth of the budget, at least one
// call) added, so a crash loses at most that reserve, counted as spent.
// Other accounts are written by Flush (the bridge calls it every minute,
// the daemon at exit).
//
// A CallLedger is safe for concurrent use. Counting a call never blocks
// on anything but that rewrite.
type CallLedger struct {
	path string
	// OnError, when set, is told when the file cannot be written (the
	// counts stay in memory; the next write tries again). Set it before
	// the ledger is used.
	OnError func(error)
	// Now is the clock of the calls Observer counts; nil means time.Now.
	// Set it before the ledger is used (tests simulate months).
	Now func() time.Time

	mu       sync.Mutex
	accounts map[string]*ledgerEntry
	dirty    bool
}

// ledgerEntry is one account in the file. The counts written are upper
// bounds of the calls made; in memory they are exact (plus whatever the
// file said at start).
type ledgerEntry struct {
	Day        string `json:"day"` // YYYY-MM-DD, UTC
	DayCalls   int    `json:"day_calls"`
	Month      string `json:"month"` // YYYY-MM, UTC
	MonthCalls int    `json:"month_calls"`

	total             uint64
	reserve           int // calls added when writing ahead; 0: no write-ahead
	savedDay, savedMo int // what the file holds for the current day and month
}

// OpenCallLedger loads the counts stored at path (a missing file starts
// empty). An empty path gives a ledger that never persists.
func OpenCallLedger(path string) (*CallLedger, error) {
	l := &CallLedger{path: path, accounts: map[string]*ledgerEntry{}}
	if path == "" {
		return l, nil
	}
	if _, err := statefile.ReadJSON(path, &l.accounts); err != nil {
		return nil, fmt.Errorf("open call counts: %w", err)
	}
	if l.accounts == nil {
		l.accounts = map[string]*ledgerEntry{}
	}
	for _, e := range l.accounts {
		e.savedDay, e.savedMo = e.DayCalls, e.MonthCalls
	}
	return l, nil
}

func (l *CallLedger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func ledgerKey(provider, account string) string { return provider + "/" + account }

// entry returns the account's entry rolled over to t's day and month.
// l.mu is held.
func (l *CallLedger) entry(provider, account string, t time.Time) *ledgerEntry {
	key := ledgerKey(provider, account)
	e := l.accounts[key]
	if e == nil {
		e = &ledgerEntry{}
		l.accounts[key] = e
	}
	t = t.UTC()
	if d := t.Format(time.DateOnly); e.Day != d {
		e.Day, e.DayCalls, e.savedDay = d, 0, 0
		l.dirty = true
	}
	if m := t.Format("2006-01"); e.Month != m {
		e.Month, e.MonthCalls, e.savedMo = m, 0, 0
		l.dirty = true
	}
	return e
}

// SetBudget makes the counts of an account with budget b written ahead
// (see CallLedger); a zero b leaves them to Flush.
func (l *CallLedger) SetBudget(provider, account string, b Budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(provider, account, l.now())
	e.reserve = 0
	if !b.IsZero() {
		e.reserve = max(1, b.Calls/1000)
	}
}

// Add counts one call of the account made at t.
func (l *CallLedger) Add(provider, account string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(provider, account, t)
	e.DayCalls++
	e.MonthCalls++
	e.total++
	l.dirty = true
	if e.reserve > 0 && (e.DayCalls > e.savedDay || e.MonthCalls > e.savedMo) {
		l.writeLocked(e.reserve)
	}
}

// Counts returns the account's counts at t.
func (l *CallLedger) Counts(provider, account string, t time.Time) CallCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(provider, account, t)
	return CallCounts{Day: e.DayCalls, Month: e.MonthCalls, Total: e.total}
}

// Flush writes the exact counts if they changed since the last write.
func (l *CallLedger) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dirty {
		return nil
	}
	return l.writeLocked(0)
}

// writeLocked writes every account, the budgeted ones ahead by their
// reserve (plus extra); l.mu is held.
func (l *CallLedger) writeLocked(extra int) error {
	if l.path == "" {
		l.dirty = false
		return nil
	}
	out := make(map[string]ledgerEntry, len(l.accounts))
	for key, e := range l.accounts {
		ahead := 0
		if e.reserve > 0 {
			ahead = extra
		}
		day, mo := max(e.DayCalls+ahead, e.savedDay), max(e.MonthCalls+ahead, e.savedMo)
		if e.reserve == 0 {
			day, mo = e.DayCalls, e.MonthCalls
		}
		out[key] = ledgerEntry{Day: e.Day, DayCalls: day, Month: e.Month, MonthCalls: mo}
	}
	if err := statefile.WriteJSON(l.path, out); err != nil {
		err = fmt.Errorf("save call counts: %w", err)
		if l.OnError != nil {
			l.OnError(err)
		}
		return err
	}
	for key, e := range l.accounts {
		e.savedDay, e.savedMo = out[key].DayCalls, out[key].MonthCalls
	}
	l.dirty = false
	return nil
}

// Observer returns an Observer that counts every call in l and then
// passes the event on to next (nil: none). When next is a PushObserver
// too, so is the result (the push events pass through untouched).
func (l *CallLedger) Observer(next Observer) Observer {
	o := ledgerObserver{l, next}
	if po, ok := next.(PushObserver); ok {
		return ledgerPushObserver{o, po}
	}
	return o
}

// ledgerPushObserver is a ledgerObserver whose next is a PushObserver.
type ledgerPushObserver struct {
	ledgerObserver
	PushObserver
}

type ledgerObserver struct {
	l    *CallLedger
	next Observer
}

func (o ledgerObserver) CloudCall(provider, account, method string, err error) {
	o.l.Add(provider, account, o.l.now())
	if o.next != nil {
		o.next.CloudCall(provider, account, method, err)
	}
}

func (o ledgerObserver) Login(provider, account, kind string) {
	if o.next != nil {
		o.next.Login(provider, account, kind)
	}
}
