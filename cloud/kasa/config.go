package kasa

import (
	"errors"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
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
	// URL is the cloud entry point. Default DefaultURL; an absolute http or
	// https URL.
	URL string `yaml:"url" secret:"url"`
}

// SetDefaults fills the empty fields that have a default: URL.
func (c *Config) SetDefaults() {
	if c.URL == "" {
		c.URL = DefaultURL
	}
}

// Validate returns every problem as a *cloud.ConfigError, joined with
// errors.Join, or nil. It expects SetDefaults to have run.
func (c *Config) Validate() error {
	var errs []error
	if c.Username == "" {
		errs = append(errs, &cloud.ConfigError{Key: "username",
			Err: errors.New("required for kasa accounts (the e-mail you log in to the Kasa app with)")})
	}
	if err := cloud.CheckHTTPURL(c.URL); err != nil {
		errs = append(errs, &cloud.ConfigError{Key: "url", Value: c.URL, Err: err})
	}
	return errors.Join(errs...)
}
