package providers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
)

func kasaKind() Kind {
	return Kind{
		Name:         kasa.ProviderKind,
		NewSettings:  func() Settings { return &kasa.Config{} },
		open:         openKasa,
		fixCommand:   LoginCommand,
		ReadsPerCall: 1,
	}
}

func openKasa(name string, s Settings, d Deps) (*Account, error) {
	c := s.(*kasa.Config)
	var pool *x509.CertPool
	if c.API == kasa.APIV2 && c.V2.CAFile != "" {
		var err error
		if pool, err = kasa.LoadCAFile(c.V2.CAFile); err != nil {
			return nil, fmt.Errorf("kasa account %q: v2.ca_file: %w", name, err)
		}
	}
	p, err := kasa.New(kasa.Options{
		Account:        name,
		Username:       c.Username,
		Password:       c.Password,
		URL:            c.URL,
		API:            c.API,
		V2:             kasa.V2Options{AccessKey: c.V2.AccessKey, SecretKey: c.V2.SecretKey, RootCAs: pool},
		StateDir:       d.StateDir,
		HTTPClient:     d.HTTPClient,
		Energy:         d.Energy,
		Logger:         d.Logger,
		Observer:       d.Observer,
		RequestTimeout: d.RequestTimeout,
		Concurrency:    d.Concurrency,
	})
	if err != nil {
		return nil, err
	}
	login := &PasswordLogin{
		Prompt: fmt.Sprintf("Kasa account %q (%s)", name, c.Username),
		Login:  p.Login,
	}
	if c.API == kasa.APIV2 {
		login.Code = kasaCodeLogin(p)
	}
	return &Account{
		Provider: p,
		Login:    login,
		Inventory: inventory(p.DeviceList, func(r kasa.ListedDevice) Listed {
			return Listed{ID: r.ID, Name: r.Alias, Model: r.Model, Online: r.Online,
				Server: r.AppServerURL, Supported: r.Supported, Type: r.DeviceType}
		}),
	}, nil
}

// kasaCodeLogin is the two-step verification of a V2 Kasa account.
func kasaCodeLogin(p *kasa.Provider) *CodeLogin {
	return &CodeLogin{
		Needed: func(err error) ([]string, bool) {
			mfa, ok := errors.AsType[*kasa.MFARequiredError](err)
			if !ok {
				return nil, false
			}
			methods := make([]string, len(mfa.Methods))
			for i, m := range mfa.Methods {
				methods[i] = string(m)
			}
			return methods, true
		},
		Pending: p.MFAPending,
		Request: func(ctx context.Context, password, method string) (string, error) {
			m, err := kasa.ParseMFAMethod(method)
			if err != nil {
				return "", err
			}
			return p.RequestMFACode(ctx, password, m)
		},
		Complete: func(ctx context.Context, method, code string) error {
			var m kasa.MFAMethod
			if method != "" {
				var err error
				if m, err = kasa.ParseMFAMethod(method); err != nil {
					return err
				}
			}
			return p.CompleteMFA(ctx, m, code)
		},
		WrongCode: kasa.IsWrongCode,
		Expired:   kasa.IsExpiredCode,
	}
}
