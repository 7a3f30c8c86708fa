package providers

import (
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

func kasaKind() Kind {
	return Kind{
		Name:        kasa.ProviderKind,
		NewSettings: func() Settings { return &kasa.Config{} },
		open:        openKasa,
		fixCommand:  LoginCommand,
	}
}

func openKasa(name string, s Settings, d Deps) (*Account, error) {
	c := s.(*kasa.Config)
	p, err := kasa.New(kasa.Options{
		Account:        name,
		Username:       c.Username,
		Password:       c.Password,
		URL:            c.URL,
		StateDir:       d.StateDir,
		HTTPClient:     d.HTTPClient,
		Energy:         d.Energy,
		Logger:         d.Logger,
		Observer:       d.Observer,
		RequestTimeout: d.RequestTimeout,
	})
	if err != nil {
		return nil, err
	}
	return &Account{
		Provider: p,
		Login: &PasswordLogin{
			Prompt: fmt.Sprintf("Kasa account %q (%s)", name, c.Username),
			Login:  p.Login,
		},
		Inventory: inventory(p.DeviceList, func(r kasa.ListedDevice) Listed {
			return Listed{ID: r.ID, Name: r.Alias, Model: r.Model, Online: r.Online,
				Server: r.AppServerURL, Supported: r.Supported, Type: r.DeviceType}
		}),
	}, nil
}
