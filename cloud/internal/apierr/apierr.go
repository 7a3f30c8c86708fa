// Package apierr renders the errors a vendor cloud answers in its response
// envelopes the same way for every vendor: what was called, the code, what
// the code means, the cloud's own message when it adds something, and a
// hint of what to check.
//
// The vendor packages keep their own exported APIError types (their fields
// are vendor vocabulary) and their code tables; this package only holds
// the shape they share. It is pure and safe for concurrent use.
package apierr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// UnknownCode is the meaning of a code outside a vendor's table.
const UnknownCode = "unknown error code"

// maxMsg caps the cloud's own message in an error text.
const maxMsg = 200

// Meanings maps a vendor's error codes to short English explanations. It is
// read-only after initialisation.
type Meanings map[int]string

// Of returns the meaning of code, or UnknownCode.
func (m Meanings) Of(code int) string {
	if s, ok := m[code]; ok {
		return s
	}
	return UnknownCode
}

// Message renders `<op>: <source> error <code> (<meaning>)`, then
// `: "<msg>"` when the cloud's message (cut to 200 bytes) is not empty and
// not just the meaning again, then `; <hint>` when there is one. op names
// the call and must never hold a secret; source names the cloud, e.g.
// "cloud" or "tuya".
func Message(op, source string, code int, meaning, msg, hint string) string {
	s := fmt.Sprintf("%s: %s error %d (%s)", op, source, code, meaning)
	if msg := text.Truncate(msg, maxMsg); msg != "" && !strings.EqualFold(msg, meaning) {
		s += fmt.Sprintf(": %q", msg)
	}
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// CodeOf returns the code, as code reads it, of the first error of type E
// in err's chain: for a vendor's `apiCode(err)`.
func CodeOf[E error](err error, code func(E) int) (int, bool) {
	e, ok := errors.AsType[E](err)
	if !ok {
		return 0, false
	}
	return code(e), true
}
