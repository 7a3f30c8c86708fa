package bridge

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Pushed updates: a provider that implements cloud.Pusher runs its push
// connection in a goroutine of Bridge.Run and hands every update to the
// run loop through pushSink. The registry applies a pushed state as a
// polled one (same publication, availability and staleness rules), an
// availability change at once, a rename as a rename in the vendor app, and
// a relist request by asking the account's poller to list again. The push
// connection's health decides the account's poll interval (pushGate) and
// shows in bridge/info and health_check.

// pushEvent carries one pushed update to the run loop.
type pushEvent struct {
	prov   cloud.Provider
	update cloud.Update
}

// pushStatusEvent carries a change of a push connection's health.
type pushStatusEvent struct {
	prov   cloud.Provider
	status cloud.PushStatus
}

// pushSink is the cloud.PushSink of one account: it forwards to the run
// loop's events channel.
type pushSink struct {
	prov   cloud.Provider
	events chan<- event
	done   <-chan struct{} // the bridge's shutdown, for Status
}

// Update blocks until the run loop took the update, or ctx ends.
func (s pushSink) Update(ctx context.Context, u cloud.Update) error {
	select {
	case s.events <- pushEvent{prov: s.prov, update: u}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status hands the health change to the run loop (which drains its events
// quickly), unless the bridge is shutting down.
func (s pushSink) Status(st cloud.PushStatus) {
	select {
	case s.events <- pushStatusEvent{prov: s.prov, status: st}:
	case <-s.done:
	}
}

// pushHealthEffect tells an account's poller whether its push connection
// is healthy.
type pushHealthEffect struct {
	prov    cloud.Provider
	healthy bool
}

func (pushHealthEffect) isEffect() {}

// handlePush applies one pushed update.
func (r *registry) handlePush(ev pushEvent) []effect {
	p, u := ev.prov, ev.update
	if u.Kind == cloud.UpdateRelist {
		r.log.Debug("the cloud says the device list changed; listing again", zap.String(keyAccount, p.Account()))
		r.emit(relistEffect{p})
		return r.done()
	}
	dv := r.devices[deviceKey(p.Kind(), u.DeviceID)]
	if dv == nil || dv.prov != p {
		return nil // not bridged (disabled, unknown or another account's)
	}
	switch u.Kind {
	case cloud.UpdateState:
		s := u.State
		if s.ReadAt.IsZero() {
			s.ReadAt = r.clock.Now()
		}
		if s.ReadAt.Before(dv.confirmedAt) || s.Err != nil {
			return nil // older than a command's confirming read
		}
		// Polls that started before this change are older than it.
		dv.confirmedAt = s.ReadAt
		r.readOK(dv, &s, false)
		if dv.queued > 0 {
			dv.pushedInJob = true
		}
	case cloud.UpdateAvailability:
		r.setAvailable(dv, u.Online)
	case cloud.UpdateRename:
		if u.Name == "" || u.Name == r.cloudName(dv) {
			return nil
		}
		dv.cloudName = u.Name
		r.renamed(dv, u.Name)
	}
	return r.done()
}

// handlePushStatus records a push connection's health: the account's
// poller reads at the reconcile interval while it is connected; a problem
// of an account that requires push is an account problem (bridge/info,
// health_check).
func (r *registry) handlePushStatus(ev pushStatusEvent) []effect {
	old, known := r.push[ev.prov]
	r.push[ev.prov] = ev.status
	if !known || old.Connected != ev.status.Connected {
		r.emit(pushHealthEffect{prov: ev.prov, healthy: ev.status.Connected})
	}
	if !known || old.Connected != ev.status.Connected || old.Problem != ev.status.Problem {
		r.updateReadiness()
		r.publishInfo()
	}
	return r.done()
}

// pushInfo is an account's push connection in bridge/info and
// health_check.
type pushInfo struct {
	Connected bool       `json:"connected"`
	Since     *time.Time `json:"since,omitempty"`
	Error     string     `json:"error,omitempty"`
	Required  bool       `json:"required"`
}

// pushInfoOf returns p's push connection for bridge/info (nil when p does
// not push or has not reported yet) and whether it is a problem of the
// account.
func (r *registry) pushInfoOf(p cloud.Provider) (*pushInfo, bool) {
	st, ok := r.push[p]
	if !ok {
		return nil, false
	}
	pi := &pushInfo{Connected: st.Connected, Error: st.Problem, Required: st.Required}
	if !st.Since.IsZero() {
		t := st.Since.UTC().Truncate(time.Second)
		pi.Since = &t
	}
	return pi, st.Required && st.Problem != ""
}
