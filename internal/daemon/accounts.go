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

// OpenAccounts opens the energy meter stored in <state_dir>/energy.json and,
// through the provider registry, one account per configured account, all
// sharing it. It does no network I/O.
//
// httpClient, when not nil, sends every cloud request; obs, when not nil,
// receives every cloud call, login and token refresh.
func OpenAccounts(cfg *config.Config, httpClient *http.Client, log *zap.Logger, obs cloud.Observer) ([]*providers.Account, *cloud.EnergyMeter, error) {
	return openAccounts(cfg, httpClient, log, obs, nil)
}

// openAccounts is OpenAccounts with the providers' clock (nil: the
// system clock).
func openAccounts(cfg *config.Config, httpClient *http.Client, log *zap.Logger, obs cloud.Observer, clk clock.Clock) ([]*providers.Account, *cloud.EnergyMeter, error) {
	energy, err := cloud.OpenEnergyMeter(filepath.Join(cfg.StateDir, "energy.json"))
	if err != nil {
		return nil, nil, err
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
		Observer:       obs,
		RequestTimeout: cfg.Poll.RequestTimeout,
		Scale:          scale,
		Clock:          clk,
	}
	accts := make([]*providers.Account, 0, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		acct, err := providers.Open(a.Provider, a.Name, a.Settings, deps)
		if err != nil {
			return nil, nil, fmt.Errorf("accounts[%d] (%s): %w", i, a.Name, err)
		}
		accts = append(accts, acct)
	}
	return accts, energy, nil
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
