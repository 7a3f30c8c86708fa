package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// An account that waits for a person to log in is listed again at the
// poll interval (the provider only looks for stored tokens, it does not
// contact the cloud), so a `login` is picked up within one interval.
func TestPoller_LoginNeededIsRecheckedAtThePollInterval(t *testing.T) {
	acct := &scriptedAccount{testProvider: *home}
	acct.set(fmt.Errorf("v: login needed: %w", cloud.ErrLoginNeeded), nil)
	r := startPoller(t, acct, time.Minute, 30*time.Minute)
	r.expect("list error")
	r.idle(1)
	r.clock.Advance(59 * time.Second)
	r.idle(1)
	r.clock.Advance(time.Second)
	r.expect("list error")
	acct.set(nil, nil)
	r.idle(1)
	r.clock.Advance(time.Minute)
	r.expect("list")
}
