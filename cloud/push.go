package cloud

import (
	"context"
	"time"
)

// UpdateKind says what an Update carries.
type UpdateKind int

const (
	// UpdateState carries a new State of one device.
	UpdateState UpdateKind = iota + 1
	// UpdateAvailability carries a device's new connectivity (Online).
	UpdateAvailability
	// UpdateRename carries a device's new name in the vendor app (Name).
	UpdateRename
	// UpdateRelist says the account's device list changed (a device was
	// added, removed or moved to another user): list the devices again.
	UpdateRelist
)

// String names the kind, for logs.
func (k UpdateKind) String() string {
	switch k {
	case UpdateState:
		return "state"
	case UpdateAvailability:
		return "availability"
	case UpdateRename:
		return "rename"
	case UpdateRelist:
		return "relist"
	}
	return "unknown"
}

// Update is something a provider learned without being asked: its vendor
// cloud pushed it. The bridge applies an update as it applies the result
// of a poll for the same device, so a pushed value and a polled one publish
// the same state.
type Update struct {
	Kind UpdateKind
	// DeviceID is the Device.ID concerned; empty for UpdateRelist.
	DeviceID string
	// State is the device's snapshot (UpdateState), as complete as a
	// polled one: built from everything known of the device, not only from
	// what changed. State.ReadAt is when the change happened, on the host
	// clock, as well as the provider knows.
	State State
	// Online is the device's connectivity (UpdateAvailability).
	Online bool
	// Name is the device's new name in the vendor app (UpdateRename).
	Name string
}

// PushStatus is the health of a provider's push connection for one
// account.
type PushStatus struct {
	// Connected is true while the push connection is up and healthy: the
	// bridge then reads the account's states only to reconcile.
	Connected bool
	// Since is when Connected last changed.
	Since time.Time
	// Problem, when set, says why the account gets no pushed updates and
	// what a person can do about it. It never holds a secret.
	Problem string
	// Required is true when the account is configured to need push: a
	// Problem is then a problem of the account (bridge/info, health_check);
	// otherwise the account just polls.
	Required bool
}

// PushSink receives a provider's pushed updates and status changes.
type PushSink interface {
	// Update hands over one update. It returns once the bridge took it
	// (the provider may then acknowledge it to its cloud), or with ctx's
	// error when ctx ends first.
	Update(ctx context.Context, u Update) error
	// Status reports a change of the push connection's health. It never
	// blocks for long.
	Status(s PushStatus)
}

// Pusher is implemented by providers whose vendor cloud can push changes
// as they happen (a device switched by its button or the vendor app).
//
// Push runs the account's push connection until ctx ends: it connects,
// hands every update to sink in the order the cloud sent them, reports the
// connection's health with sink.Status, and reconnects when the connection
// drops. It returns when ctx ends, or at once when push is not enabled
// for the account. It is called at most once per provider.
type Pusher interface {
	Push(ctx context.Context, sink PushSink)
}

// PushObserver is implemented by Observers that also count pushed frames,
// for metrics. Implementations must be safe for concurrent use and must
// not block.
type PushObserver interface {
	// PushFrame counts one frame of the push connection by its protocol
	// (vendor-defined, e.g. "4"; "none" when unreadable) and result:
	// PushApplied, PushDuplicate, PushIgnored, PushDecryptError or
	// PushParseError.
	PushFrame(provider, account, protocol, result string)
	// PushReconnect counts one (re)connection of the push connection after
	// the first.
	PushReconnect(provider, account string)
	// PushReceived records when the last frame (or keep-alive answer)
	// arrived.
	PushReceived(provider, account string, at time.Time)
}

// Results of PushObserver.PushFrame.
const (
	PushApplied      = "applied"
	PushDuplicate    = "duplicate"
	PushIgnored      = "ignored"
	PushDecryptError = "decrypt_error"
	PushParseError   = "parse_error"
)
