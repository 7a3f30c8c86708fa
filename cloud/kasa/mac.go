package kasa

import "strings"

// normalizeMAC turns "50C7BF010203", "50:c7:bf:01:02:03" or
// "50-C7-BF-01-02-03" into "50:C7:BF:01:02:03". Anything that is not 12 hex
// digits (after removing ':', '-' and '.') gives "".
func normalizeMAC(s string) string {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':' || c == '-' || c == '.':
			continue
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
			hex = append(hex, c)
		case c >= 'a' && c <= 'f':
			hex = append(hex, c-'a'+'A')
		default:
			return ""
		}
		if len(hex) > 12 {
			return ""
		}
	}
	if len(hex) != 12 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(hex[i : i+2])
	}
	return b.String()
}
