package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"go.uber.org/zap"
)

// poller owns one account's schedule. It lists devices at start, every
// list interval and on demand, and reads the listed devices as a prober
// reads its targets: each slot (what one ReadStates call reads together:
// a device with its outlets, or a batch, see cloud.ReadPlanner) at its own
// time, spread over the poll interval, with at most concurrency reads in
// flight and a deadline of its own for each (readDeadline). Right after
// the first successful list every slot is read at once; the reads after
// that are spread.
//
// The interval an account is read at is the longest of: the configured
// one (or the one set with Bridge.SetPollInterval), the one its call
// budget pays for (pacer), and the time a full cycle of reads takes at
// the concurrency bound (plus a tenth). A stretch is logged once with the
// numbers and shown in bridge/info.
//
// A slot whose devices are off and idle is read less often, and one is
// read sooner after a command or a change (see schedule).
//
// While the account fails as a whole (an account-level error, or every
// read failing with cloud.ErrUnavailable for a full cycle), its reads
// pause (pollBackoff, or the rate-limit back-off) and resume where they
// were, one probe at a time until a read succeeds. Results go to the run
// loop as events, in the order the reads ended. Lists run beside the
// reads, one at a time.
type poller struct {
	prov         cloud.Provider
	pollInterval time.Duration // configured
	listInterval time.Duration
	// concurrency bounds the reads in flight (<= 0: DefaultConcurrency).
	concurrency int
	// requestTimeout is poll.request_timeout (<= 0: the default); a read
	// gets readDeadline of it.
	requestTimeout time.Duration
	skip           func(id string) bool // disabled devices are not read
	events         chan<- event
	relist         chan struct{}
	// hurry takes ids to read sooner (after a command); full: dropped.
	hurry   chan string
	control *pollControl // may be nil (tests)
	pace    *pacer       // nil: no budget
	log     *zap.Logger
	metrics Metrics // may be nil
	clock   clock
	// push, when set, makes the account read at the reconcile interval
	// while its push connection is healthy.
	push *pushGate
}

// DefaultConcurrency is the default poll.concurrency: the reads in flight
// per account, and the requests in flight per cloud host and account.
// Measured with test/bench (docs/performance.md).
const DefaultConcurrency = 8

// readDeadline is the deadline of one read: readDeadlineFactor request
// timeouts (a Kasa strip with metering outlets is two rounds of requests;
// a Tuya batch may renew its token first).
const readDeadlineFactor = 3

// dispatchSlack: slots due within it are read together with the one due
// now (fewer wake-ups).
const dispatchSlack = 50 * time.Millisecond

// listEvent carries a ListDevices result.
type listEvent struct {
	prov    cloud.Provider
	devices []cloud.Device
	err     error
}

// statesEvent carries the result of one read: a slot's states, or an
// account-wide error for ids (then every id of the account).
type statesEvent struct {
	prov    cloud.Provider
	ids     []string
	states  []cloud.State
	err     error
	started time.Time
}

func runDeadline(interval time.Duration) time.Duration {
	return max(interval*8/10, 10*time.Second)
}

// backoffDelay is the wait after n ≥ 1 consecutive failures: with d =
// min(base·2ⁿ⁻¹, limit), a uniform pick from [d/2, d], so that clients that
// failed together do not retry together, even once at the limit.
func backoffDelay(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Poll back-off cap: at most pollBackoffFactor intervals, and at most
// pollBackoffMax unless the interval itself is longer.
const (
	pollBackoffFactor = 5
	pollBackoffMax    = 5 * time.Minute
)

// pollBackoff is the wait before the next state read after n ≥ 1
// consecutive failed reads of a failing account: backoffDelay from the
// interval, never less than the interval and never more than
// max(interval, min(5·interval, 5 min)). With the default 60s interval:
// 1 min, 1–2 min, 2–4 min, then 2.5–5 min.
func pollBackoff(n int, interval time.Duration) time.Duration {
	limit := max(interval, min(pollBackoffFactor*interval, pollBackoffMax))
	return max(interval, backoffDelay(n, interval, limit))
}

// outage turns a read in which every device failed with
// cloud.ErrUnavailable into an account-level error: then the cloud is
// failing, not the devices. Otherwise it returns nil. The error names no
// device (it wraps the cause of the first device's error), so that the
// same outage reads the same whichever devices were read.
func outage(states []cloud.State) error {
	if len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if !errors.Is(s.Err, cloud.ErrUnavailable) {
			return nil
		}
	}
	cause := errors.Unwrap(states[0].Err)
	if cause == nil || !errors.Is(cause, cloud.ErrUnavailable) {
		cause = states[0].Err
	}
	return fmt.Errorf("no device could be read: %w", cause)
}

func (p *poller) send(ctx context.Context, ev event) bool {
	select {
	case p.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
