package bridge

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Log field names, shared so logs are queryable the same way everywhere.
const (
	keyTopic    = "topic"
	keyDeviceID = "device_id"
	keyDevice   = "device"
	keyAccount  = "account"
	keyProvider = "provider"
	keyPayload  = "payload"
)

// maxLoggedPayload bounds the part of a payload a log line shows.
const maxLoggedPayload = 200

// payloadField is the payload of an MQTT message as a log field. The
// logger quotes a field itself, so the payload goes in as text, not
// quoted again: {"color_temp":1} reads as such in a console line and
// decodes to itself from a JSON line. At most maxLoggedPayload bytes of
// it are shown (cut at a character boundary, then "… (N bytes)"), and
// every control character, other unprintable character and invalid byte
// is written as its Go escape (\x1b, \n, \u202e, \xff), so that no
// payload can break a log line, colour a terminal or hide text.
func payloadField(p []byte) zap.Field { return zap.String(keyPayload, payloadText(p)) }

// payloadText renders p as payloadField shows it.
func payloadText(p []byte) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if i+size > maxLoggedPayload {
			fmt.Fprintf(&b, "… (%d bytes)", len(p))
			break
		}
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, p[i])
		case strconv.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
