package cloud

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Period is the calendar period a call budget counts over, in UTC.
type Period string

// The periods of a Budget.
const (
	// PeriodDay is a calendar day in UTC.
	PeriodDay Period = "day"
	// PeriodMonth is a calendar month in UTC.
	PeriodMonth Period = "month"
)

// Budget is how many cloud calls an account may make per calendar day or
// month (UTC): the accounts[].budget setting, such as "30000/month",
// "2000/day" or "none". The zero value is no budget.
type Budget struct {
	// Calls is the most calls per Period; 0 means no budget.
	Calls int
	// Period is PeriodDay or PeriodMonth ("" without a budget).
	Period Period
}

// NoBudget is the zero Budget: calls are not limited.
var NoBudget = Budget{}

// MaxBudgetCalls bounds the calls of a budget (a larger one is a typo).
const MaxBudgetCalls = 1_000_000_000

// ParseBudget parses "<calls>/day", "<calls>/month" (spaces around the
// slash and a thousands separator '_' or ',' are allowed, the period may be
// "d" or "m") or "none". The error says what was expected, without
// repeating s.
func ParseBudget(s string) (Budget, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "none" || t == "unlimited" {
		return NoBudget, nil
	}
	num, per, ok := strings.Cut(t, "/")
	if !ok {
		return Budget{}, errors.New(`must be "<calls>/day", "<calls>/month" or "none", e.g. "30000/month"`)
	}
	num = strings.NewReplacer("_", "", ",", "", " ", "").Replace(num)
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxBudgetCalls {
		return Budget{}, fmt.Errorf("the number of calls must be a whole number from 1 to %d", MaxBudgetCalls)
	}
	switch strings.TrimSpace(per) {
	case "day", "d", "days":
		return Budget{Calls: n, Period: PeriodDay}, nil
	case "month", "m", "months":
		return Budget{Calls: n, Period: PeriodMonth}, nil
	}
	return Budget{}, errors.New(`the period must be "day" or "month"`)
}

// IsZero reports whether b is no budget.
func (b Budget) IsZero() bool { return b.Calls <= 0 }

// String renders b as ParseBudget reads it: "30000/month", or "none".
func (b Budget) String() string {
	if b.IsZero() {
		return "none"
	}
	return strconv.Itoa(b.Calls) + "/" + string(b.Period)
}

// MarshalText renders b as String does.
func (b Budget) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses b with ParseBudget.
func (b *Budget) UnmarshalText(text []byte) error {
	v, err := ParseBudget(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// PeriodStart returns the start of the period (in UTC) that holds t.
func (b Budget) PeriodStart(t time.Time) time.Time {
	t = t.UTC()
	if b.Period == PeriodDay {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PeriodEnd returns the end of the period that holds t (the start of the
// next one).
func (b Budget) PeriodEnd(t time.Time) time.Time {
	s := b.PeriodStart(t)
	if b.Period == PeriodDay {
		return s.AddDate(0, 0, 1)
	}
	return s.AddDate(0, 1, 0)
}

// Rate is the budget's average rate at t, in calls per second: the calls
// divided by the length of the period holding t (months differ). Zero
// without a budget.
func (b Budget) Rate(t time.Time) float64 {
	if b.IsZero() {
		return 0
	}
	return float64(b.Calls) / b.PeriodEnd(t).Sub(b.PeriodStart(t)).Seconds()
}

// Used returns, of the counts c, the calls made in b's period.
func (b Budget) Used(c CallCounts) int {
	if b.Period == PeriodDay {
		return c.Day
	}
	return c.Month
}
