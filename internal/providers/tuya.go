package providers

import (
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
	"github.com/kasa2mqtt/kasa2mqtt/internal/clock"
)

func tuyaKind() Kind {
	return Kind{
		Name:          tuya.ProviderKind,
		NewSettings:   func() Settings { return &tuya.Config{} },
		open:          openTuya,
		fixCommand:    AuthorizeCommand,
		DefaultBudget: tuya.DefaultBudget,
		ReadsPerCall:  tuya.MaxStatusIDs,
	}
}

func openTuya(name string, s Settings, d Deps) (*Account, error) {
	c := s.(*tuya.Config)
	p, err := tuya.New(tuya.Options{
		Account:        name,
		AccessID:       c.AccessID,
		AccessSecret:   c.AccessSecret,
		Endpoint:       c.Endpoint,
		Region:         c.Region,
		UserID:         c.UserID,
		Auth:           c.Auth,
		StateDir:       d.StateDir,
		HTTPClient:     d.HTTPClient,
		Energy:         d.Energy,
		Logger:         d.Logger,
		Observer:       d.Observer,
		ScaleOverrides: d.Scale,
		RequestTimeout: d.RequestTimeout,
		Push:           c.Push,
		PushURL:        c.PushURL,
		Clock:          d.Clock,
		Now:            nowOf(d.Clock),
		Concurrency:    d.Concurrency,
	})
	if err != nil {
		return nil, err
	}
	server := c.Endpoint
	if server == "" {
		server, _ = tuya.RegionEndpoint(c.Region)
	}
	a := &Account{
		Provider: p,
		Inventory: inventory(p.DeviceList, func(r tuya.ListedDevice) Listed {
			return Listed{ID: r.ID, Name: r.Name, Model: r.Model, Online: r.Online,
				Server: server, Supported: r.Supported, Type: "category " + r.Category}
		}),
	}
	if c.Auth == tuya.AuthCode {
		a.Authorize = &Authorization{
			Instructions: p.AuthorizationInstructions,
			Exchange:     p.ExchangeCode,
			TokenPath:    p.TokenPath(),
		}
	}
	return a, nil
}

// nowOf is c's Now, or nil (the system clock) without a clock.
func nowOf(c clock.Clock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}
