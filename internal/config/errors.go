package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrEmpty is returned (wrapped) by Parse for a file with no content.
var ErrEmpty = errors.New("config is empty")

// masked replaces a non-empty secret in Redacted, YAML and FieldError.
const masked = "***"

// FieldError is one problem with one field. Parse and Validate return
// several of them combined with errors.Join; use errors.As to inspect them.
type FieldError struct {
	// Field is the path of the field, e.g. "accounts[0].url" or
	// "devices.8006ABCD.topic".
	Field string
	// Value is the offending value as written, "" when not useful. It is
	// masked ("***") for secret fields, so it is safe to print.
	Value string
	// Line is the 1-based line in the config file, 0 when unknown (e.g. the
	// key is absent, or the Config was built in code).
	Line int
	// Env is the environment variable the value came from (see the
	// package doc), "" when it came from the file.
	Env string
	// Err says what is wrong.
	Err error
}

// newFieldError builds a FieldError, masking value when field is secret.
func newFieldError(field, value string, line int, err error) *FieldError {
	if isSecretField(field) && value != "" {
		value = masked
	}
	return &FieldError{Field: field, Value: value, Line: line, Err: err}
}

// Error formats the error as
//
//	config: accounts[0].url: "ftp://x" (line 12): must be http or https
//
// leaving out the value and line when they are empty/zero. A secret field's
// value is always printed as "***". Without a Field (a problem with the
// document itself) it reads "config: line 3: <err>".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Field == "" && e.Env != "" {
		// A variable that names no key.
		b.WriteString("environment variable " + e.Env + ": " + e.errText())
		return b.String()
	}
	if e.Field == "" {
		// A problem with the document rather than a field.
		if e.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", e.Line)
		}
		b.WriteString(e.errText())
		return b.String()
	}
	b.WriteString(e.Field)
	if e.Value != "" {
		v := e.Value
		if isSecretField(e.Field) {
			v = masked
		}
		b.WriteString(": ")
		b.WriteString(strconv.Quote(v))
	}
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, " (from environment variable %s)", e.Env)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.errText())
	return b.String()
}

func (e *FieldError) errText() string {
	if e.Err == nil {
		return "invalid value"
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// isSecretField reports whether the value at path must never be shown:
// mqtt.password and the account keys the providers mark secret
// (accounts[i].password, accounts[i].access_secret).
func isSecretField(path string) bool {
	for _, key := range append(secretKeys(), "password") {
		if path == key || strings.HasSuffix(path, "."+key) {
			return true
		}
	}
	return false
}
