package main

import (
	"fmt"
	"io"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// budgetNotes tells, for each account with a call budget, the poll
// interval the budget pays for at a few account sizes, as comments: a
// configured poll.interval the budget cannot afford is stretched.
func budgetNotes(w io.Writer, cfg *config.Config, now time.Time) {
	for i, a := range cfg.Accounts {
		b := a.EffectiveBudget()
		k, ok := providers.Lookup(a.Provider)
		if b.IsZero() || !ok {
			continue
		}
		per := max(k.ReadsPerCall, 1)
		fmt.Fprintf(w, "# accounts[%d] (%s %q): budget %s, %.0f calls a day on average.\n", i, a.Provider, a.Name, b, b.Rate(now)*86400)
		if n := affordable(b, now, cfg, per); n > 0 {
			fmt.Fprintf(w, "#   poll.interval %s holds for up to %d devices; with more it stretches:", cfg.Poll.Interval, n)
		} else {
			fmt.Fprintf(w, "#   poll.interval %s is more than the budget pays for; it stretches:", cfg.Poll.Interval)
		}
		for _, n := range []int{per, 5 * per / 2, 5 * per} {
			calls := (n + per - 1) / per
			// A list reads a page of up to 20 devices per call (Tuya) or
			// one call (Kasa); specifications are cached.
			list := (n + 19) / 20
			d := bridge.BudgetPollInterval(b, now, cfg.Poll.Interval, cfg.Poll.DeviceListInterval, calls, list)
			fmt.Fprintf(w, " %d devices → %s;", n, d)
		}
		fmt.Fprintln(w, " bridge/info shows the interval in use.")
	}
}

// affordable returns the most devices poll.interval holds for under b,
// per devices a call reads.
func affordable(b cloud.Budget, now time.Time, cfg *config.Config, per int) int {
	n := 0
	for calls := 1; calls <= 10000; calls++ {
		devices := calls * per
		d := bridge.BudgetPollInterval(b, now, cfg.Poll.Interval, cfg.Poll.DeviceListInterval, calls, (devices+19)/20)
		if d > cfg.Poll.Interval {
			break
		}
		n = devices
	}
	return n
}
