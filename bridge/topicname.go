package bridge

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// reservedTopics cannot be used as device topics: they belong to the bridge.
var reservedTopics = map[string]bool{"bridge": true}

// slugify turns a device name into a topic segment: lower case, letters
// folded to ASCII where they have a plain base letter (é -> e), every other
// run of characters replaced by one '_', trimmed. "Living Room Lamp" ->
// "living_room_lamp". It returns "" when nothing usable is left.
func slugify(name string) string {
	var b strings.Builder
	pendingSep := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // combining accent left over from NFKD
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if pendingSep && b.Len() > 0 {
				b.WriteByte('_')
			}
			pendingSep = false
			b.WriteRune(unicode.ToLower(r))
		default:
			pendingSep = true
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = strings.TrimRight(s[:64], "_")
	}
	return s
}
