package cloud

import "context"

// Provider is one logged-in vendor cloud account, as the bridge consumes it.
//
// Implementations are safe for concurrent use: the bridge polls and sends
// commands from different goroutines. Every method honours ctx: when ctx is
// cancelled or its deadline passes, the call returns promptly with an error
// wrapping ctx.Err().
type Provider interface {
	// Kind is the provider kind, e.g. "kasa". It matches Device.Provider.
	Kind() string
	// Account is the configured account name.
	Account() string
	// ListDevices returns every bridgeable device on the account, strip
	// outlets included. An account-level failure (authentication, outage)
	// is returned as an error; the bridge then keeps its last known list.
	ListDevices(ctx context.Context) ([]Device, error)
	// ReadStates reads the current state of the given devices (IDs from
	// ListDevices) and returns one State per requested ID, in any order.
	// Per-device failures are reported in State.Err; the error return is
	// for failures that affect the whole account (e.g. ErrAuth).
	ReadStates(ctx context.Context, ids []string) ([]State, error)
	// Apply sends one command and returns once the cloud confirmed it was
	// delivered and accepted by the device.
	Apply(ctx context.Context, cmd Command) error
}
