package kasa

import (
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"
)

// aliasPunct is the punctuation accepted in a base64-decoded alias. Plain
// words of 4 or 8 letters are often valid base64 too; requiring the decoded
// text to look like a name (letters, digits, spaces and this punctuation)
// keeps most of them from being "decoded" into junk.
const aliasPunct = " -_'.,&()#/+:!?@\"’"

// decodeAlias returns the printable name for a device list alias. Some
// accounts (Tapo devices, some Kasa ones) store the alias base64-encoded,
// e.g. "RGlzaHdhc2hlcg==" for "Dishwasher". The alias is decoded only when
// it is canonical base64 (re-encoding gives the same text), and the result
// is non-empty, valid UTF-8 and looks like a name; otherwise it is kept as
// it is. Either way control characters are removed and invalid UTF-8 is
// replaced, so the result is always printable.
func decodeAlias(alias string) string {
	if decoded, ok := decodeBase64Alias(alias); ok {
		return decoded
	}
	return text.Printable(alias)
}

func decodeBase64Alias(s string) (string, bool) {
	if len(s) < 4 || len(s)%4 != 0 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || base64.StdEncoding.EncodeToString(b) != s {
		return "", false
	}
	if !utf8.Valid(b) {
		return "", false
	}
	text := string(b)
	if strings.TrimSpace(text) == "" {
		return "", false
	}
	hasLetter := false
	for _, r := range text {
		switch {
		case unicode.IsLetter(r):
			hasLetter = true
		case unicode.IsDigit(r), unicode.IsMark(r), unicode.Is(unicode.So, r):
		case strings.ContainsRune(aliasPunct, r):
		default:
			return "", false
		}
	}
	return text, hasLetter
}
