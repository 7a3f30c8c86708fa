package tuya

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Values of Options.Push.
const (
	// PushAuto uses the message service when the project has it and polls
	// otherwise, with one warning that says what to enable.
	PushAuto = "auto"
	// PushOn needs the message service: without it the account reports a
	// problem (and polls meanwhile).
	PushOn = "on"
	// PushOff never connects to the message service.
	PushOff = "off"
)

// pushHosts are the message service's WebSocket hosts of the data centres
// that have a documented one (reference §3); the others need push_url.
var pushHosts = map[string]string{
	"cn": "mqe.tuyacn.com",
	"us": "mqe.tuyaus.com",
	"eu": "mqe.tuyaeu.com",
	"in": "mqe.tuyain.com",
}

// pushPort is the message service's WebSocket port.
const pushPort = "8285"

// PushAddress returns the message service's scheme, host and port, e.g.
// "wss://mqe.tuyaeu.com:8285": pushURL when set (wss://host:port, or
// ws://host:port for a local test server; no user info, path, query or
// fragment), else the region's. Its errors never quote the URL.
func PushAddress(region, pushURL string) (string, error) {
	if pushURL == "" {
		r := strings.ToLower(strings.TrimSpace(region))
		host, ok := pushHosts[r]
		if !ok {
			return "", fmt.Errorf("no message-service address is known for data centre %q (known: cn, us, eu, in); set push_url", region)
		}
		return "wss://" + host + ":" + pushPort, nil
	}
	u, err := url.Parse(strings.TrimSpace(pushURL))
	switch {
	case err != nil:
		return "", errors.New("must be wss://host:port (or ws://host:port for a local test server)")
	case u.Scheme != "wss" && u.Scheme != "ws":
		return "", errors.New("must start with wss:// (or ws:// for a local test server)")
	case u.Hostname() == "" || u.Opaque != "":
		return "", errors.New("must name a host: wss://host:port")
	case u.User != nil:
		return "", errors.New("must not hold a user or password (the message service's credentials come from access_id and access_secret)")
	case u.Path != "" && u.Path != "/":
		return "", errors.New("must not have a path: the consumer path is always /ws/v2/consumer/persistent/<access_id>/out/event/<access_id>-sub")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("must not have a query or fragment")
	}
	return u.Scheme + "://" + u.Host, nil
}

// PushAddressFor returns the message service's scheme, host and port for
// an account: pushURL when set (see PushAddress); else, with an endpoint,
// the data centre whose documented OpenAPI base URL it is (e.g.
// https://openapi.tuyaeu.com: wss://mqe.tuyaeu.com:8285), and no address
// for any other endpoint; else the region's.
func PushAddressFor(region, endpoint, pushURL string) (string, error) {
	if pushURL == "" && endpoint != "" {
		region = regionOfEndpoint(endpoint)
		if region == "" {
			return "", errors.New("no message-service address is known for a custom endpoint; set push_url")
		}
	}
	return PushAddress(region, pushURL)
}

// regionOfEndpoint returns the data centre whose documented OpenAPI base
// URL endpoint is (https, default port, no path; case ignored), or "".
func regionOfEndpoint(endpoint string) string {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Scheme != "https" || u.User != nil || (u.Port() != "" && u.Port() != "443") ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	for region, base := range regionEndpoints {
		if strings.EqualFold("https://"+u.Hostname(), base) {
			return region
		}
	}
	return ""
}

// consumerURL is the WebSocket consumer URL of the project's event topic
// on the message service at addr (reference §6.3).
func consumerURL(addr, accessID string) string {
	return addr + "/ws/v2/consumer/persistent/" + accessID + "/out/event/" + accessID +
		"-sub?ackTimeoutMillis=3000&subscriptionType=Failover"
}

// pushPassword is the message service's password for the project:
// md5hex(accessID + md5hex(accessSecret)), characters 8 to 23 (reference
// §6.3).
func pushPassword(accessID, secret string) string {
	inner := md5.Sum([]byte(secret))
	outer := md5.Sum([]byte(accessID + hex.EncodeToString(inner[:])))
	return hex.EncodeToString(outer[:])[8:24]
}

// pushKey is the AES-128 key of the pushed data: characters 8 to 23 of
// the access secret; nil when the secret is too short to have one.
func pushKey(secret string) []byte {
	if len(secret) < 24 {
		return nil
	}
	return []byte(secret[8:24])
}
