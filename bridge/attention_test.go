package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// An account that waits for a person (a login needed, a refused
// password) is reported for the /readyz detail with its advice, without
// holding readiness back; its recovery clears the note.
func TestRegistry_AttentionListsAccountsWaitingForAPerson(t *testing.T) {
	advise := func(p cloud.Provider, err error) error {
		return fmt.Errorf("%w; run login -account %s", err, p.Account())
	}
	h := newHarness(t, Options{Advise: advise}, nil, home)
	h.listFails(home, fmt.Errorf("vendor: login needed: %w", cloud.ErrLoginNeeded))
	want := []string{"account home: vendor: login needed: " + cloud.ErrAuth.Error() + "; run login -account home"}
	if !slices.Equal(h.attention, want) || len(h.waiting) != 0 {
		t.Errorf("attention %q waiting %q, want %q and none", h.attention, h.waiting, want)
	}
	h.listFails(home, fmt.Errorf("vendor: %w", cloud.ErrUnavailable))
	if len(h.attention) != 0 {
		t.Errorf("an outage needs no person: attention %q", h.attention)
	}
	h.listFails(home, fmt.Errorf("vendor: login needed: %w", cloud.ErrLoginNeeded))
	h.list(home)
	if len(h.attention) != 0 {
		t.Errorf("after the recovery: attention %q", h.attention)
	}
}
