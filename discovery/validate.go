package discovery

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error Payload and Config.Validate return
// for unusable input; test with errors.Is.
var ErrInvalid = errors.New("discovery: invalid input")

// maxTopicBytes is the MQTT limit on a topic's encoded length.
const maxTopicBytes = 65535

// reservedTopic is the topic segment the bridge itself uses under the base
// topic (BridgeStateTopic and the bridge API); no device may take it.
const reservedTopic = "bridge"

func invalid(field, value, reason string) error {
	return fmt.Errorf("%w: %s %q: %s", ErrInvalid, field, value, reason)
}

// Validate reports whether c can produce discovery messages Home Assistant
// accepts: Prefix and BaseTopic must be MQTT topic names without wildcards,
// control characters or empty levels, Origin.Name is required, and
// Origin.SupportURL, when set, must be an http(s) URL (HA rejects the whole
// payload otherwise). Errors wrap ErrInvalid.
func (c Config) Validate() error {
	if r := topicProblem(c.Prefix); r != "" {
		return invalid("discovery prefix", c.Prefix, r)
	}
	if r := topicProblem(c.BaseTopic); r != "" {
		return invalid("base topic", c.BaseTopic, r)
	}
	if strings.TrimSpace(c.Origin.Name) == "" {
		return invalid("origin name", c.Origin.Name, "is empty")
	}
	if u := c.Origin.SupportURL; u != "" && !isHTTPURL(u) {
		return invalid("origin support URL", u, "is not an http(s) URL")
	}
	return nil
}

// validateDevice checks the device half of Payload's input and every topic
// the payload will name.
func validateDevice(c Config, d Device) error {
	if r := idProblem(d.Provider); r != "" {
		return invalid("device provider", d.Provider, r)
	}
	if r := idProblem(d.ID); r != "" {
		return invalid("device id", d.ID, r)
	}
	if d.ParentID != "" {
		if r := idProblem(d.ParentID); r != "" {
			return invalid("device parent id", d.ParentID, r)
		}
		if d.ParentID == d.ID {
			return invalid("device parent id", d.ParentID, "is the device's own id")
		}
	}
	if r := topicProblem(d.Topic); r != "" {
		return invalid("device topic", d.Topic, r)
	}
	if d.Topic == reservedTopic || strings.HasPrefix(d.Topic, reservedTopic+"/") {
		return invalid("device topic", d.Topic, "is reserved for the bridge")
	}
	for _, t := range []string{
		ConfigTopic(c, d.Device),
		StateTopic(c.BaseTopic, d.Topic),
		AvailabilityTopic(c.BaseTopic, d.Topic),
		CommandTopic(c.BaseTopic, d.Topic, PropRestart), // the longest command topic
	} {
		if len(t) > maxTopicBytes {
			return invalid("device topic", d.Topic, fmt.Sprintf("makes topic longer than %d bytes", maxTopicBytes))
		}
	}
	return nil
}

// idProblem describes why a cloud id is unusable, or returns "".
func idProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case strings.ContainsRune(s, 0):
		return "contains NUL"
	case strings.ContainsAny(s, "+#"):
		return "contains an MQTT wildcard (+ or #)"
	}
	return ""
}

// topicProblem describes why s cannot be (part of) a topic we publish and
// Home Assistant subscribes to, or returns "". The character rules are
// MQTT's plus Home Assistant's valid_topic (no C0/C1 controls, no Unicode
// non-characters); empty levels are refused because "a//b" or a trailing
// '/' is always a configuration mistake here.
func topicProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxTopicBytes:
		return fmt.Sprintf("is longer than %d bytes", maxTopicBytes)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains NUL"
		case r == '+' || r == '#':
			return "contains an MQTT wildcard (+ or #)"
		case r <= 0x1f || 0x7f <= r && r <= 0x9f:
			return "contains a control character"
		case 0xfdd0 <= r && r <= 0xfdef || r&0xfffe == 0xfffe:
			return "contains a Unicode non-character"
		}
	}
	if s[0] == '/' || s[len(s)-1] == '/' || strings.Contains(s, "//") {
		return "has an empty topic level"
	}
	return ""
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
