package providers

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

// Settings is a provider's account configuration: a pointer to its struct
// (such as *kasa.Config) whose yaml tags are the keys of an accounts[]
// entry besides provider and name. A field tagged secret:"true" is never
// shown and may be read from the file named by the sibling "<key>_file"
// field; secret:"url" marks a URL whose password is masked.
type Settings interface {
	// SetDefaults fills the empty fields that have a default.
	SetDefaults()
	// Validate returns every problem as a *cloud.ConfigError naming its
	// key, joined with errors.Join, or nil. It expects SetDefaults to have
	// run and never repeats a secret.
	Validate() error
}

// Deps are what every provider gets from the daemon besides its own
// settings.
type Deps struct {
	// StateDir holds the token files. Empty: no persistence.
	StateDir string
	// HTTPClient sends every cloud request; nil means each provider's own
	// pooled client.
	HTTPClient *http.Client
	// Energy is the shared energy meter; nil keeps totals in memory.
	Energy *cloud.EnergyMeter
	// Logger is the process logger; each provider names its own (its kind).
	// Nil discards.
	Logger *zap.Logger
	// Observer is told about every cloud call, login and token refresh;
	// nil means none.
	Observer cloud.Observer
	// RequestTimeout bounds each cloud request; zero means
	// cloud.DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Concurrency bounds the requests in flight per cloud host
	// (poll.concurrency); commands (cloud.Interactive) do not wait for it.
	// <= 0 means the provider's default.
	Concurrency int
	// Scale overrides the decimal scale of data points per device id and
	// data point code (devices.<id>.scale), for the providers that read
	// scaled values; nil means none.
	Scale map[string]map[string]int
	// Clock is the providers' host clock and times their push
	// connections (keep-alive pings, reconnect waits); nil means the
	// system clock. Tests pass a fake.
	Clock clock.Clock
}

// Account is one opened cloud account: its provider and the optional
// capabilities a person uses from the command line. A nil capability means
// the account does not have it.
type Account struct {
	// Provider is what the bridge polls and commands.
	Provider cloud.Provider
	// Login, when set, logs the account in with a password a person types
	// (`kasa2mqtt login`).
	Login *PasswordLogin
	// Authorize, when set, is the one-time authorisation by a person the
	// account needs (`kasa2mqtt tuya-authorize`).
	Authorize *Authorization
	// Inventory lists every device on the account, bridged or not, for
	// `kasa2mqtt devices`. It is always set.
	Inventory func(ctx context.Context) ([]Listed, error)
}

// PasswordLogin is an interactive login with a password.
type PasswordLogin struct {
	// Prompt names the account for the person typing, e.g.
	// `Kasa account "home" (you@example.com)`.
	Prompt string
	// Login logs in with password and stores the tokens (never the
	// password).
	Login func(ctx context.Context, password string) error
	// Code, when set, is the second step a login may ask for (two-step
	// verification); nil for accounts that never ask.
	Code *CodeLogin
}

// Authorization is a one-time authorisation in a browser that ends with a
// code to exchange for tokens.
type Authorization struct {
	// Instructions says what to do; redirectURI is where the browser will
	// be sent with ?code=… ("" when the person copies the code by hand).
	Instructions func(redirectURI string) string
	// Exchange trades the code for tokens and stores them in TokenPath.
	Exchange func(ctx context.Context, code string) error
	// TokenPath is the token file, "" without a state directory.
	TokenPath string
}

// Listed is one device of an account's inventory.
type Listed struct {
	// ID is the cloud device id (of the physical device).
	ID string
	// Name is the user-given name; Model the product.
	Name, Model string
	// Online is the cloud's connectivity flag.
	Online bool
	// Server is the regional server the device is reached through.
	Server string
	// Supported tells whether the bridge handles the device; when not,
	// Type says what it is (e.g. "SMART.IPCAMERA", "category wk").
	Supported bool
	Type      string
}

// Kind is one provider kind of the registry.
type Kind struct {
	// Name is the accounts[].provider value, the kind's Provider.Kind and
	// the name of its log component, e.g. "kasa".
	Name string
	// NewSettings returns an empty account configuration (no defaults
	// set), for the loader to decode into.
	NewSettings func() Settings
	// open opens an account from settings of this kind.
	open func(name string, s Settings, d Deps) (*Account, error)
	// DefaultBudget is the call budget of an account of this kind that
	// sets none (accounts[].budget).
	DefaultBudget cloud.Budget
	// ReadsPerCall is how many devices one state-read call covers (1 when
	// each device is read on its own), for estimates such as
	// check-config's.
	ReadsPerCall int
	// fixCommand is the CLI command that gets an account of this kind
	// going again after cloud.ErrLoginNeeded.
	fixCommand string
}

// The CLI commands that give an account what it cannot get by itself.
const (
	// LoginCommand logs in with a password typed by a person.
	LoginCommand = "login"
	// AuthorizeCommand exchanges a browser authorisation for tokens.
	AuthorizeCommand = "tuya-authorize"
)

// kinds is the registry, in the order messages list the kinds.
func kinds() []Kind { return []Kind{kasaKind(), tuyaKind()} }

// Kinds returns every registered kind.
func Kinds() []Kind { return kinds() }

// Names returns the names of every kind, in registry order.
func Names() []string {
	var names []string
	for _, k := range kinds() {
		names = append(names, k.Name)
	}
	return names
}

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) {
	ks := kinds()
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return ks[i], true
}

// Owns reports whether s is a configuration of this kind.
func (k Kind) Owns(s Settings) bool {
	return s != nil && reflect.TypeOf(s) == reflect.TypeOf(k.NewSettings())
}

// Open opens the account called name of the kind called kind from its
// settings (defaults filled in, validated). It does no network I/O.
func Open(kind, name string, s Settings, d Deps) (*Account, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unsupported provider %q", kind)
	}
	if s == nil {
		s = k.NewSettings()
		s.SetDefaults()
	}
	if !k.Owns(s) {
		return nil, fmt.Errorf("provider %q: the account's settings are a %T", kind, s)
	}
	return k.open(name, s, d)
}

// inventory adapts a provider's own device list for Account.Inventory.
func inventory[T any](list func(context.Context) ([]T, error), row func(T) Listed) func(context.Context) ([]Listed, error) {
	return func(ctx context.Context) ([]Listed, error) {
		rows, err := list(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Listed, 0, len(rows))
		for _, r := range rows {
			out = append(out, row(r))
		}
		return out, nil
	}
}
