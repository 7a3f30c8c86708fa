package daemon

import (
	"fmt"
	"net/http"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// Opened are the accounts of a configuration, opened, with what they
// share.
type Opened struct {
	// Accounts in the order of the configuration.
	Accounts []*providers.Account
	// Energy is the energy meter of <state_dir>/energy.json.
	Energy *cloud.EnergyMeter
	// Calls counts every cloud call of every account
	// (<state_dir>/cloud-calls.json), with the budgeted accounts' counts
	// written ahead.
	Calls *cloud.CallLedger
	// Budgets are the accounts' call budgets (none are left out).
	Budgets map[cloud.Provider]cloud.Budget
}

// CallsFile is the state file of the call counts.
const CallsFile = "cloud-calls.json"

// OpenAccounts opens the energy meter stored in <state_dir>/energy.json,
// the call counts in <state_dir>/cloud-calls.json and, through the
// provider registry, one account per configured account, all sharing
// them. It does no network I/O.
//
// httpClient, when not nil, sends every cloud request; obs, when not nil,
// receives every cloud call, login and token refresh (after the call
// counts); log is told when the call counts cannot be written.
func OpenAccounts(cfg *config.Config, httpClient *http.Client, log *zap.Logger, obs cloud.Observer) (*Opened, error) {
	return openAccounts(cfg, httpClient, log, obs, nil)
}

// openAccounts is OpenAccounts with the providers' and the call counts'
// clock (nil: the system clock).
func openAccounts(cfg *config.Config, httpClient *http.Client, log *zap.Logger, obs cloud.Observer, clk clock.Clock) (*Opened, error) {
	energy, err := cloud.OpenEnergyMeter(filepath.Join(cfg.StateDir, "energy.json"))
	if err != nil {
		return nil, err
	}
	calls, err := cloud.OpenCallLedger(filepath.Join(cfg.StateDir, CallsFile))
	if err != nil {
		return nil, err
	}
	calls.OnError = func(err error) { log.Warn("the call counts could not be saved", zap.Error(err)) }
	if clk != nil {
		calls.Now = clk.Now
	}
	scale := map[string]map[string]int{}
	for id, o := range cfg.Devices {
		if len(o.Scale) > 0 {
			scale[id] = o.Scale
		}
	}
	deps := providers.Deps{
		StateDir:       cfg.StateDir,
		HTTPClient:     httpClient,
		Energy:         energy,
		Logger:         log,
		Observer:       calls.Observer(obs),
		RequestTimeout: cfg.Poll.RequestTimeout,
		Concurrency:    cfg.Poll.Concurrency,
		Scale:          scale,
		Clock:          clk,
	}
	o := &Opened{Energy: energy, Calls: calls, Budgets: map[cloud.Provider]cloud.Budget{}}
	for i, a := range cfg.Accounts {
		acct, err := providers.Open(a.Provider, a.Name, a.Settings, deps)
		if err != nil {
			return nil, fmt.Errorf("accounts[%d] (%s): %w", i, a.Name, err)
		}
		b := a.EffectiveBudget()
		calls.SetBudget(a.Provider, a.Name, b)
		o.Budgets[acct.Provider] = b
		o.Accounts = append(o.Accounts, acct)
	}
	return o, nil
}

// Providers returns the providers of accts, for the bridge.
func Providers(accts []*providers.Account) []cloud.Provider {
	provs := make([]cloud.Provider, len(accts))
	for i, a := range accts {
		provs[i] = a.Provider
	}
	return provs
}

// Advise is providers.Advise for an error of p (bridge.Options.Advise).
func Advise(p cloud.Provider, err error) error {
	return providers.Advise(p.Kind(), p.Account(), err)
}

// Overrides converts the devices: section for the bridge.
func Overrides(cfg *config.Config) map[string]bridge.DeviceOverride {
	m := make(map[string]bridge.DeviceOverride, len(cfg.Devices))
	for id, o := range cfg.Devices {
		m[id] = bridge.DeviceOverride{Name: o.Name, Topic: o.Topic, Disabled: o.Disabled}
	}
	return m
}
