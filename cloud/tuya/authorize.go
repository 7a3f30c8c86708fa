package tuya

import (
	"context"
	"fmt"
	"strings"
)

// AuthorizationInstructions returns what a user must do to authorise the
// project in code mode, for `kasa2mqtt tuya-authorize` to print.
// redirectURI is where the authorisation page sends the browser with
// ?code=… (e.g. a local listener on 127.0.0.1); empty means the user copies
// the code by hand.
//
// Tuya does not publish one fixed URL for the authorisation page of a cloud
// project: the developer console shows it for the project ("user
// authorization via the webpage", reference seeds: Authentication Method,
// code mode). The text therefore says where to find it and which values to
// use, rather than inventing a URL.
func (p *Provider) AuthorizationInstructions(redirectURI string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Authorise kasa2mqtt for Tuya account %q (cloud project client_id %s, data centre %s).\n\n", p.account, p.accessID, p.dataCentre())
	b.WriteString("1. Sign in to the Tuya Developer Platform (https://iot.tuya.com), open Cloud > Project Management\n")
	fmt.Fprintf(&b, "   and open the project whose Access ID / client_id is %s. Make sure the project has\n", p.accessID)
	b.WriteString("   the user permission package for \"user authorization via the webpage\" (code mode).\n")
	b.WriteString("2. Open the project's user authorization page (the console shows its link and QR code) with\n")
	fmt.Fprintf(&b, "     client_id    = %s\n", p.accessID)
	if redirectURI != "" {
		fmt.Fprintf(&b, "     redirect_uri = %s\n", redirectURI)
	}
	b.WriteString("   then sign in with the Tuya / Smart Life app account that owns the devices and confirm\n")
	b.WriteString("   the authorization.\n")
	if redirectURI != "" {
		fmt.Fprintf(&b, "3. Tuya then sends the browser to %s?code=<code>. If kasa2mqtt is listening there it\n", redirectURI)
		b.WriteString("   picks the code up by itself; otherwise copy the value of the code parameter from the\n")
		b.WriteString("   browser's address bar and paste it here.\n")
	} else {
		b.WriteString("3. Copy the authorization code Tuya shows (or the value of the code parameter in the\n")
		b.WriteString("   address the browser was sent to) and paste it here.\n")
	}
	b.WriteString("4. A code works once and only for a short time: paste it promptly. kasa2mqtt exchanges it\n")
	b.WriteString("   for tokens (GET /v1.0/token?grant_type=2&code=…)")
	if path := p.TokenPath(); path != "" {
		fmt.Fprintf(&b, " and stores them in %s", path)
	}
	b.WriteString(";\n   the daemon then keeps them fresh by itself. Run this command again if it ever reports\n")
	b.WriteString("   that authorization is needed.\n")
	return b.String()
}

func (p *Provider) dataCentre() string {
	if p.region != "" {
		return fmt.Sprintf("%s, %s", p.region, p.endpoint)
	}
	return p.endpoint
}

// ExchangeCode trades an authorisation code (see AuthorizationInstructions)
// for an access and refresh token with GET /v1.0/token?grant_type=2&code=…
// and stores them (mode 0600) before returning. It is for accounts with
// Auth "code". A refused code is an error wrapping cloud.ErrAuth; failing
// to store the tokens is an error too. A running daemon's provider picks
// the stored tokens up by itself.
func (p *Provider) ExchangeCode(ctx context.Context, code string) error {
	code = strings.TrimSpace(code)
	if p.mode != AuthCode {
		return fmt.Errorf("tuya: account %q: exchange code: the account is not configured with auth: %s", p.account, AuthCode)
	}
	if code == "" || len(code) > 512 || !safeHeader(code) {
		return fmt.Errorf("tuya: account %q: exchange code: the code is empty or malformed", p.account)
	}
	if err := p.sess.exchange(ctx, code); err != nil {
		return fmt.Errorf("tuya: %w", err)
	}
	return nil
}
