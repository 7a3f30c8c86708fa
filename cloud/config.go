package cloud

import (
	"errors"
	"net/url"
	"time"
)

// DefaultRequestTimeout bounds each single cloud request when nothing else
// is configured (poll.request_timeout, the providers' Options).
const DefaultRequestTimeout = 20 * time.Second

// ConfigError is one problem with one key of an account's configuration
// (the keys of its accounts[] entry besides provider and name), as a
// provider's configuration type reports it from Validate. The loader adds
// the account's path and the line, and masks secret values.
type ConfigError struct {
	// Key is the configuration key, e.g. "username".
	Key string
	// Value is the offending value, "" when not useful. It may be a
	// secret: whoever prints it masks it (the provider's configuration
	// type marks its secret keys).
	Value string
	// Err says what is wrong; it never repeats a secret.
	Err error
}

// Error returns "<key>: <problem>", without the value.
func (e *ConfigError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// CheckHTTPURL accepts an absolute http or https URL with a host, the form
// of a configured cloud entry point. Its errors never quote the URL, which
// may carry a password.
func CheckHTTPURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute http or https URL with a host")
	}
	return nil
}
