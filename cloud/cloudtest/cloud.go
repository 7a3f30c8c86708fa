package cloudtest

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Fixture starts a fresh fake cloud with one account on it for one check,
// and stops it with t.Cleanup.
type Fixture func(t *testing.T) Cloud

// Cloud is a fake vendor cloud served over loopback, with one account on
// it, as a Fixture starts it. The knob methods change what the fake
// reports; they may panic on an id the Cloud did not make (a bug in the
// check). A Cloud is used from one goroutine at a time, except that its
// providers are called concurrently.
type Cloud interface {
	// NewProvider builds a provider for the account, configured as the
	// daemon configures it, talking to the fake through a client that
	// reaches loopback only. Its energy totals are kept in
	// <StateDir>/energy.json. An empty opts.StateDir means the Cloud's own
	// state directory, which lives as long as the Cloud: a second
	// provider resumes the first one's session and energy totals, like a
	// restarted daemon.
	NewProvider(t *testing.T, opts Options) cloud.Provider

	// AddPlug adds a plug with a relay and no energy meter, online and
	// off, and returns the ID the provider lists it under.
	AddPlug(name string) string
	// AddMeteredPlug adds a plug with a relay and an energy meter
	// (CapEnergy), online and off, drawing 0 W.
	AddMeteredPlug(name string) string
	// AddStrip adds a power strip with the given number (2 to 4) of
	// switchable outlets, online and off, and returns the IDs the
	// provider lists the strip and its outlets under.
	AddStrip(name string, outlets int) (strip string, outletIDs []string)
	// Remove takes a device (a strip with its outlets) off the account.
	Remove(id string)

	// SetRelay switches a plug or outlet as its button would.
	SetRelay(id string, on bool)
	// Relay reports the relay of a plug or outlet as the device has it.
	Relay(id string) bool
	// SetOnline sets whether the cloud reaches the device.
	SetOnline(id string, online bool)
	// SetPower sets what a metered plug draws while it is on, in W.
	SetPower(id string, watts float64)
	// Tick lets d pass for the energy meters: a metered plug that is on
	// uses its power for d.
	Tick(d time.Duration)
	// ResetEnergyCounter restarts the device's own energy counter, as a
	// reboot does; a no-op for clouds that report energy as deltas.
	ResetEnergyCounter(id string)

	// ExpireTokens makes every access token issued so far refused as
	// expired; renewing them (refresh token, login) still works.
	ExpireTokens()
	// RevokeCredentials makes the cloud refuse the account's configured
	// credentials (a changed password, a rotated secret) and every token
	// issued so far.
	RevokeCredentials()
	// FailHTTP answers the next n requests with the HTTP status (n = 0
	// ends it).
	FailHTTP(n, status int)
	// Hang holds the next n requests without an answer until the client
	// gives up (n = 0 ends it; requests already held stay held).
	Hang(n int)
	// Secrets returns every secret of the account (password or access
	// secret, the tokens issued, keys), none of which may appear in a
	// log line, an error or an Observer event.
	Secrets() []string
}

// Options are the provider settings a check chooses; the Cloud sets the
// rest (account, credentials, endpoint, HTTP client, energy meter).
type Options struct {
	// StateDir holds the token and energy files; "" means the Cloud's own.
	StateDir string
	// RequestTimeout bounds each cloud request; zero means the provider's
	// default.
	RequestTimeout time.Duration
	// Logger receives the provider's logs; the check always sets it.
	Logger *zap.Logger
	// Observer is told about every call and login; the check always sets
	// it.
	Observer cloud.Observer
}
