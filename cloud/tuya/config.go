package tuya

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Config is the configuration of one Tuya account (a Tuya IoT cloud
// project): the keys of its accounts[] entry besides provider and name.
// The yaml tags are the keys; secret:"true" marks a value never shown
// (masked in errors, check-config and bridge/info) that may also be read
// from the file named by the sibling <key>_file; secret:"url" marks a URL
// whose password is masked.
type Config struct {
	// AccessID is the cloud project's Access ID (client_id). Required.
	AccessID string `yaml:"access_id"`
	// AccessSecret signs every request, or AccessSecretFile (read at load
	// time, relative to the config file's directory, trailing newline
	// trimmed). One of them is required.
	AccessSecret     string `yaml:"access_secret" secret:"true"`
	AccessSecretFile string `yaml:"access_secret_file"`
	// Region is the project's data centre, one of Regions. Exactly one of
	// Region and Endpoint is required.
	Region string `yaml:"region"`
	// Endpoint is the OpenAPI base URL, for data centres not in Regions
	// (and for tests).
	Endpoint string `yaml:"endpoint" secret:"url"`
	// UserID is the app account's user id, optional.
	UserID string `yaml:"user_id"`
	// Auth is AuthSimple (the default) or AuthCode (authorised once by a
	// person, see Provider.ExchangeCode).
	Auth string `yaml:"auth"`
	// Push is PushAuto (the default SetDefaults fills in), PushOn or
	// PushOff: whether the account takes device changes from the
	// project's message service (see Options.Push). Left empty (SetDefaults
	// not run) it is valid and means off, as in Options.
	Push string `yaml:"push"`
	// PushURL replaces the scheme, host and port of the message service:
	// wss://host:port, or ws://host:port for a local test server. Empty:
	// the region's (see PushAddress).
	PushURL string `yaml:"push_url"`
}

// SetDefaults fills the empty fields that have a default: Auth and Push.
func (c *Config) SetDefaults() {
	if c.Auth == "" {
		c.Auth = AuthSimple
	}
	if c.Push == "" {
		c.Push = PushAuto
	}
}

// Validate returns every problem as a *cloud.ConfigError, joined with
// errors.Join, or nil. It expects SetDefaults to have run.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, value string, err error) {
		errs = append(errs, &cloud.ConfigError{Key: key, Value: value, Err: err})
	}
	if c.AccessID == "" {
		add("access_id", "", errors.New("required for tuya accounts (the Access ID of your Tuya IoT cloud project)"))
	}
	if c.AccessSecret == "" {
		add("access_secret", "", errors.New("required for tuya accounts: set access_secret or access_secret_file"))
	}
	regions := strings.Join(Regions, ", ")
	switch {
	case c.Region == "" && c.Endpoint == "":
		add("region", "", fmt.Errorf("set region (one of %s) or endpoint", regions))
	case c.Region != "" && c.Endpoint != "":
		add("endpoint", c.Endpoint, errors.New("set either region or endpoint, not both"))
	case c.Region != "" && !slices.Contains(Regions, c.Region):
		add("region", c.Region, fmt.Errorf("unknown data centre; one of %s (or set endpoint)", regions))
	case c.Endpoint != "":
		if err := cloud.CheckHTTPURL(c.Endpoint); err != nil {
			add("endpoint", c.Endpoint, err)
		}
	}
	if c.Auth != AuthSimple && c.Auth != AuthCode {
		add("auth", c.Auth, fmt.Errorf("must be %q or %q", AuthSimple, AuthCode))
	}
	switch c.Push {
	case "", PushAuto, PushOff: // empty: SetDefaults did not run (off)
	case PushOn:
		if c.PushURL == "" && (c.Region != "" || c.Endpoint != "") {
			if _, err := PushAddressFor(c.Region, c.Endpoint, ""); err != nil {
				add("push", c.Push, fmt.Errorf("on needs push_url: %w", err))
			}
		}
	default:
		add("push", c.Push, fmt.Errorf("must be %q, %q or %q", PushAuto, PushOn, PushOff))
	}
	if c.PushURL != "" {
		if _, err := PushAddress("", c.PushURL); err != nil {
			add("push_url", c.PushURL, err)
		}
	}
	return errors.Join(errs...)
}
