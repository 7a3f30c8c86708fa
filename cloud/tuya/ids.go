package tuya

import "github.com/kasa2mqtt/kasa2mqtt/cloud/internal/text"

// validDeviceID accepts ids that are safe in URL paths, as map and energy
// keys and (with a data point code appended) as outlet ids: 1..64 of
// [A-Za-z0-9_-].
func validDeviceID(id string) bool { return text.IsSegment(id, 64, "_-") }

// safeSegment accepts tokens and ids that can go into a URL path as they
// are: 1..256 of [A-Za-z0-9._-].
func safeSegment(s string) bool { return text.IsSegment(s, 256, "._-") }

// safeHeader accepts values that can be sent as a header: 1..1024 visible
// ASCII characters (no space, no control character).
func safeHeader(s string) bool { return text.IsToken(s, 1024) }
