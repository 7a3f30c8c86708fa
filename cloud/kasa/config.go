package kasa

import (
	"errors"
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// The cloud API generations an account can speak (Config.API).
const (
	// APIV1 is the legacy unsigned API on wap.tplinkcloud.com: no
	// two-step verification. The default.
	APIV1 = "v1"
	// APIV2 is the signed API the current Kasa apps speak: regional hosts,
	// refresh tokens and two-step verification.
	APIV2 = "v2"
)

// Config is the configuration of one Kasa account: the keys of its
// accounts[] entry besides provider and name. The yaml tags are the keys;
// secret:"true" marks a value never shown (masked in errors, check-config
// and bridge/info) that may also be read from the file named by the
// sibling <key>_file; secret:"url" marks a URL whose password is masked.
type Config struct {
	// Username is the cloud login (e-mail). Required.
	Username string `yaml:"username"`
	// Password, or PasswordFile (read at load time, relative to the config
	// file's directory, one trailing newline trimmed; after loading,
	// Password holds the file's content). Setting both is an error. Both
	// may be empty when a login stored tokens (Provider.Login).
	Password     string `yaml:"password" secret:"true"`
	PasswordFile string `yaml:"password_file"`
	// URL is the cloud entry point: default DefaultURL with api v1,
	// DefaultV2URL (where regional discovery starts) with api v2; an
	// absolute http or https URL.
	URL string `yaml:"url" secret:"url"`
	// API is the cloud API generation, APIV1 (default) or APIV2.
	API string `yaml:"api"`
	// V2 holds the settings of api v2.
	V2 V2Config `yaml:"v2"`
}

// V2Config is the v2 section of a Kasa account: the app's key pair that
// signs every V2 request, and the certificates trusted for the V2 hosts.
type V2Config struct {
	// AccessKey and SecretKey are the Kasa Android app's key pair (not the
	// user's credentials); required with api v2. Each may be read from the
	// file named by the _file sibling instead.
	AccessKey     string `yaml:"access_key" secret:"true"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKey     string `yaml:"secret_key" secret:"true"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// CAFile is a PEM file of the root certificates trusted for the V2
	// hosts, replacing the TP-Link roots kasa2mqtt ships (V2RootCAs), e.g.
	// a test CA. Relative to the config file's directory. Empty: the
	// shipped roots.
	CAFile string `yaml:"ca_file"`
}

// SetDefaults fills the empty fields that have a default: API, then URL
// (which depends on it).
func (c *Config) SetDefaults() {
	if c.API == "" {
		c.API = APIV1
	}
	if c.URL == "" {
		c.URL = DefaultURL
		if c.API == APIV2 {
			c.URL = DefaultV2URL
		}
	}
}

// Validate returns every problem as a *cloud.ConfigError, joined with
// errors.Join, or nil. It expects SetDefaults to have run. With api v2 it
// reads v2.ca_file, when set, to check that it holds certificates.
func (c *Config) Validate() error {
	var errs []error
	if c.Username == "" {
		errs = append(errs, &cloud.ConfigError{Key: "username",
			Err: errors.New("required for kasa accounts (the e-mail you log in to the Kasa app with)")})
	}
	if err := cloud.CheckHTTPURL(c.URL); err != nil {
		errs = append(errs, &cloud.ConfigError{Key: "url", Value: c.URL, Err: err})
	}
	switch c.API {
	case "", APIV1:
	case APIV2:
		for _, k := range []struct{ key, value string }{{"v2.access_key", c.V2.AccessKey}, {"v2.secret_key", c.V2.SecretKey}} {
			if k.value == "" {
				errs = append(errs, &cloud.ConfigError{Key: k.key,
					Err: errors.New("required with api: v2 (the Kasa app's key pair that signs V2 requests; see docs/configuration.md)")})
			}
		}
		if c.V2.CAFile != "" {
			if _, err := LoadCAFile(c.V2.CAFile); err != nil {
				errs = append(errs, &cloud.ConfigError{Key: "v2.ca_file", Value: c.V2.CAFile, Err: err})
			}
		}
	default:
		errs = append(errs, &cloud.ConfigError{Key: "api", Value: c.API,
			Err: fmt.Errorf("must be %s or %s", APIV1, APIV2)})
	}
	return errors.Join(errs...)
}
