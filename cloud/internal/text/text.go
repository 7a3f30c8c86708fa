// Package text cleans and checks the strings vendor clouds send: names
// shown to users, and ids and tokens put into requests.
//
// The checks are deliberately vendor- and transport-neutral: they say what
// is safe as a map key, in a log line or in an HTTP request. What is safe
// in an MQTT topic is the bridge's business (it never puts an id into a
// topic without cleaning it).
//
// All functions are pure and safe for concurrent use.
package text

import (
	"strings"
	"unicode"
)

// Printable replaces invalid UTF-8 with U+FFFD, drops the runes that are
// not printable (control and format characters; the plain space stays)
// and trims surrounding space. The result is what a name may hold.
func Printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == ' ' || unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	return strings.TrimSpace(s)
}

// IsToken reports whether s is 1 to max visible ASCII characters (0x21 to
// 0x7e: no space, no control character, nothing beyond ASCII). Such a
// string is safe as a map key, in a JSON body, in a log line and as an
// HTTP header value.
func IsToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// IsSegment reports whether s is 1 to max characters of [A-Za-z0-9] and
// the ASCII characters in extra (e.g. "_-" or "._-"). With extra drawn
// from "-._~" such a string goes into a URL path or query as it is.
func IsSegment(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// Truncate cuts s to at most n bytes, on a rune boundary, and marks the
// cut with "…". Shorter strings are returned as they are.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
