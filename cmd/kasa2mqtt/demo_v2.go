package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

// The demo's V2 account: two-step verification on, the tests' documented
// key pair (kasatest.TestAccessKey/TestSecretKey, not the Kasa app's).
const (
	demoV2Account = "demo-2fa"
	demoV2User    = "demo-2fa@example.com"
)

// demoV2 is the demo's simulated V2 cloud with one 2FA account, and the
// configuration file a person passes to `kasa2mqtt login` to log it in.
type demoV2 struct {
	fake      *kasatest.Server
	loginConf string // <state dir>/login-demo-2fa.yaml
}

// startDemoV2 starts the V2 cloud (a plug and a metered plug), writes its
// test CA and a login configuration into stateDir, and returns the account
// for the daemon: it has the password, so the daemon tries it once and
// then reports "login needed" until `login` stores tokens.
func startDemoV2(stateDir string) (*demoV2, config.Account, error) {
	fake := kasatest.NewServerV2(kasatest.V2Options{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey})
	fake.AddAccount(demoV2User, demoPassword)
	fake.Require2FA(demoV2User, true)
	fake.AddPlug(demoV2User, "Porch Light", "HS103(US)")
	heater := fake.AddMeteredPlug(demoV2User, "Garage Heater", "KP115(US)", true)
	fake.SetPower(heater, 1200)
	d := &demoV2{fake: fake, loginConf: filepath.Join(stateDir, "login-"+demoV2Account+".yaml")}
	ca := filepath.Join(stateDir, "demo-2fa-ca.pem")
	settings := &kasa.Config{Username: demoV2User, Password: demoPassword, URL: fake.URL(), API: kasa.APIV2,
		V2: kasa.V2Config{AccessKey: kasatest.TestAccessKey, SecretKey: kasatest.TestSecretKey, CAFile: ca}}
	login := fmt.Sprintf("# `kasa2mqtt login` for the demo's 2FA account (written by kasa2mqtt demo).\n"+
		"accounts:\n  - provider: kasa\n    name: %s\n    username: %s\n    url: %q\n    api: v2\n"+
		"    v2:\n      access_key: %s\n      secret_key: %s\n      ca_file: %q\nstate_dir: %q\n",
		demoV2Account, demoV2User, fake.URL(), kasatest.TestAccessKey, kasatest.TestSecretKey, ca, stateDir)
	for path, data := range map[string][]byte{ca: fake.CAPEM(), d.loginConf: []byte(login)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			fake.Close()
			return nil, config.Account{}, fmt.Errorf("demo 2FA account: %w", err)
		}
	}
	return d, config.Account{Provider: kasa.ProviderKind, Name: demoV2Account, Settings: settings}, nil
}

// instructions say how to log the 2FA account in.
func (d *demoV2) instructions() string {
	return fmt.Sprintf(`%[4]s

  kasa2mqtt login -c %[3]s

or, as a script would:

  echo %[2]s | kasa2mqtt login -c %[3]s -account %[1]s -mfa-type email
  echo %[2]s | kasa2mqtt login -c %[3]s -account %[1]s -mfa-type email -code <code>

Its Porch Light and Garage Heater then appear without a restart.
`, demoV2Account, demoPassword, d.loginConf,
		fill(fmt.Sprintf("The account %q has two-step verification (Kasa V2 API): it waits for a login. "+
			"Log it in from another terminal with the password %s (the code appears here):", demoV2Account, demoPassword)))
}

// printCodes prints every verification code the simulated cloud sends,
// as the Kasa app or the mailbox would show it, until ctx ends.
func (d *demoV2) printCodes(ctx context.Context, w io.Writer) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			code, typ, ok := d.fake.MFACode(demoV2User)
			if !ok || code == last {
				continue
			}
			last = code
			how := "by e-mail"
			if typ == 1 {
				how = "in the Kasa app"
			}
			fmt.Fprintf(w, "\nkasa2mqtt demo: verification code for %s (%s): %s\n\n", demoV2Account, how, code)
		}
	}
}
