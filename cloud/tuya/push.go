package tuya

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

// DefaultPushKeepAlive is the interval of the push connection's keep-alive
// pings (Tuya's Python client pings every 30 s).
const DefaultPushKeepAlive = 30 * time.Second

// enableAdvice says what to do when the project has no message service.
const enableAdvice = "enable it in the Tuya developer console (Cloud → Development → your project → " +
	"Message Service: enable the message service and add a messaging rule for device status and " +
	"online/offline messages in the production environment); messages count against the project's " +
	"message quota, not its API calls"

// pushState is the account's push configuration and what the push
// connection tells the rest of the provider.
type pushState struct {
	mode string
	// addr is the message service's scheme://host:port; "" when none is
	// known (noAddr says why).
	addr      string
	noAddr    string
	accessID  string
	key       []byte // nil when the secret is too short to hold one
	password  string
	keepAlive time.Duration
	clock     clock.Clock
	// byPoll: the energy comes from polls (push off, not connected yet,
	// or refused), see Provider.energyTotal.
	byPoll  atomic.Bool
	started atomic.Bool
}

func newPushState(opts Options) (*pushState, error) {
	s := &pushState{
		mode:      opts.Push,
		accessID:  opts.AccessID,
		key:       pushKey(opts.AccessSecret),
		password:  pushPassword(opts.AccessID, opts.AccessSecret),
		keepAlive: opts.PushKeepAlive,
		clock:     clock.Or(opts.Clock),
	}
	if s.mode == "" {
		s.mode = PushOff
	}
	if s.mode != PushAuto && s.mode != PushOn && s.mode != PushOff {
		return nil, fmt.Errorf("push %q: want %q, %q or %q", opts.Push, PushAuto, PushOn, PushOff)
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultPushKeepAlive
	}
	var err error
	if s.addr, err = PushAddressFor(opts.Region, opts.Endpoint, opts.PushURL); err != nil {
		if opts.PushURL != "" {
			return nil, fmt.Errorf("push_url: %w", err)
		}
		s.noAddr = err.Error()
	}
	// Until the message service accepts a connection, polls count the
	// energy (see energyTotal).
	s.byPoll.Store(true)
	return s, nil
}

// energyByPoll reports whether polled add_ele values without a report
// time count (see energyTotal): with push off, before the message service
// first accepted a connection, and while it refuses one. A connection
// that dropped does not count: the service keeps the reports for the
// subscription and delivers them on reconnection.
func (p *Provider) energyByPoll() bool { return p.push.byPoll.Load() }

// Push runs the account's connection to the project's message service
// (Tuya's Pulsar service in its WebSocket form, reference §6.3) until ctx
// ends, and hands what devices report to sink as cloud.Updates: status
// reports (protocols 4 and 1000) as States built exactly like polled ones,
// online and offline events as availability, renames as renames, and
// bindings and removals as a request to list again. It returns at once
// when Options.Push is PushOff, and when no message-service address is
// known or the access secret cannot key the data (reporting why).
//
// Every frame is acknowledged by its messageId after its updates were
// handed over; a frame the message service delivers again, or a report
// sent in both protocol families, is applied once. Frames that cannot be
// used (bad base64, data that does not decrypt, unknown protocols) are
// counted, logged once per kind and acknowledged, never fatal. The
// connection is pinged every PushKeepAlive; one that answers nothing
// between two pings is replaced. After a drop it reconnects with jittered
// back-off (1 s doubling to 2 minutes; a connection that ended before its
// first keep-alive ping counts as a failed attempt); a refused connection (the project
// has no message service, HTTP 401/403/404) is retried every 10 minutes.
// With PushAuto a refusal is logged once as a warning that says what to
// enable; with PushOn it is also an account problem (PushStatus.Required).
// Push is called at most once; later calls return at once.
func (p *Provider) Push(ctx context.Context, sink cloud.PushSink) {
	s := p.push
	if s.mode == PushOff || !s.started.CompareAndSwap(false, true) {
		return
	}
	switch {
	case s.addr == "":
		p.pushUnavailable(sink, "tuya push: "+s.noAddr)
		return
	case s.key == nil:
		p.pushUnavailable(sink, "tuya push: the access secret is shorter than 24 characters, so pushed data cannot be decrypted")
		return
	}
	c := newConsumer(p, sink)
	c.run(ctx)
}

// pushUnavailable reports that the account gets no pushed updates (for a
// reason no retry can fix) and lets the energy come from polls.
func (p *Provider) pushUnavailable(sink cloud.PushSink, why string) {
	s := p.push
	s.byPoll.Store(true)
	if s.mode == PushOn {
		p.log.Error("tuya push not available; polling at poll.interval", zap.String("reason", why))
	} else {
		p.log.Warn("tuya push not available; polling only", zap.String("reason", why))
	}
	sink.Status(cloud.PushStatus{Problem: why, Required: s.mode == PushOn, Since: s.clock.Now()})
}

// refusedError is a handshake the message service refused (HTTP 401, 403
// or 404): the project has no message service, or it is not enabled.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("the message service refused the connection (HTTP %d): the project has no message service, or it is not enabled", e.status)
}

func isRefused(err error) bool {
	var re *refusedError
	return errors.As(err, &re)
}
