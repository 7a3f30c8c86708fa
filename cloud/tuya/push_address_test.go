package tuya_test

import (
	"strings"
	"testing"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

func TestPushAddress(t *testing.T) {
	for _, tc := range []struct{ region, url, want, err string }{
		{"eu", "", "wss://mqe.tuyaeu.com:8285", ""},
		{"CN", "", "wss://mqe.tuyacn.com:8285", ""},
		{"us", "", "wss://mqe.tuyaus.com:8285", ""},
		{"in", "", "wss://mqe.tuyain.com:8285", ""},
		{"eu-w", "", "", "no message-service address is known for data centre \"eu-w\""},
		{"us-e", "", "", "set push_url"},
		{"eu-w", "wss://mqe.example.com:8285", "wss://mqe.example.com:8285", ""},
		{"", "ws://127.0.0.1:4000/", "ws://127.0.0.1:4000", ""},
		{"", "https://mqe.tuyaeu.com:8285", "", "must start with wss://"},
		{"", "wss://user:pw@mqe.tuyaeu.com:8285", "", "must not hold a user or password"},
		{"", "wss://mqe.tuyaeu.com:8285/ws/v2", "", "must not have a path"},
		{"", "wss://mqe.tuyaeu.com:8285?x=1", "", "must not have a query"},
		{"", "wss://:8285", "", "must name a host"},
	} {
		got, err := tuya.PushAddress(tc.region, tc.url)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("PushAddress(%q, %q) = %q, %v; want %q", tc.region, tc.url, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("PushAddress(%q, %q) error %v, want one saying %q", tc.region, tc.url, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error quotes the URL: %v", err)
		}
	}
}

// An endpoint that is a data centre's documented OpenAPI base URL (the
// config example's alternative to region) names that data centre, so its
// message service is known; any other endpoint needs push_url.
func TestPushAddressFor(t *testing.T) {
	for _, tc := range []struct{ region, endpoint, url, want, err string }{
		{"eu", "", "", "wss://mqe.tuyaeu.com:8285", ""},
		{"", "https://openapi.tuyaeu.com", "", "wss://mqe.tuyaeu.com:8285", ""},
		{"", "https://OPENAPI.tuyaus.com/", "", "wss://mqe.tuyaus.com:8285", ""},
		{"", "https://openapi.tuyacn.com:443", "", "wss://mqe.tuyacn.com:8285", ""},
		{"", "https://openapi.tuyain.com", "", "wss://mqe.tuyain.com:8285", ""},
		{"", "https://openapi-weaz.tuyaeu.com", "", "", "data centre \"eu-w\""},
		{"", "http://openapi.tuyaeu.com", "", "", "custom endpoint"},
		{"", "https://openapi.tuyaeu.com:8443", "", "", "custom endpoint"},
		{"", "https://openapi.tuyaeu.com/v1", "", "", "custom endpoint"},
		{"", "http://127.0.0.1:4000", "", "", "set push_url"},
		{"", "http://127.0.0.1:4000", "ws://127.0.0.1:4000", "ws://127.0.0.1:4000", ""},
	} {
		got, err := tuya.PushAddressFor(tc.region, tc.endpoint, tc.url)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("PushAddressFor(%q, %q, %q) = %q, %v; want %q", tc.region, tc.endpoint, tc.url, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("PushAddressFor(%q, %q, %q) = %q, %v; want an error saying %q", tc.region, tc.endpoint, tc.url, got, err, tc.err)
		}
	}
}

func TestConfig_PushKeys(t *testing.T) {
	base := func() tuya.Config {
		return tuya.Config{AccessID: "id", AccessSecret: "secret", Region: "eu"}
	}
	c := base()
	c.SetDefaults()
	if c.Push != tuya.PushAuto || c.Validate() != nil {
		t.Fatalf("default push %q, validation %v: want auto and valid", c.Push, c.Validate())
	}
	for _, tc := range []struct {
		name string
		mod  func(*tuya.Config)
		key  string // "" = valid
	}{
		{"off", func(c *tuya.Config) { c.Push = tuya.PushOff }, ""},
		{"on in eu", func(c *tuya.Config) { c.Push = tuya.PushOn }, ""},
		{"unknown mode", func(c *tuya.Config) { c.Push = "always" }, "push"},
		{"on without an address", func(c *tuya.Config) { c.Push, c.Region = tuya.PushOn, "eu-w" }, "push"},
		{"on with a custom endpoint", func(c *tuya.Config) { c.Push, c.Region, c.Endpoint = tuya.PushOn, "", "https://x.example" }, "push"},
		{"on with a data centre's endpoint", func(c *tuya.Config) { c.Push, c.Region, c.Endpoint = tuya.PushOn, "", "https://openapi.tuyaeu.com" }, ""},
		{"on with the endpoint of a data centre without one", func(c *tuya.Config) {
			c.Push, c.Region, c.Endpoint = tuya.PushOn, "", "https://openapi-ueaz.tuyaus.com"
		}, "push"},
		{"on with push_url", func(c *tuya.Config) { c.Push, c.Region, c.PushURL = tuya.PushOn, "eu-w", "wss://mqe.example.com:8285" }, ""},
		{"auto without an address", func(c *tuya.Config) { c.Region = "us-e" }, ""},
		{"bad push_url", func(c *tuya.Config) { c.PushURL = "http://x:1" }, "push_url"},
	} {
		c := base()
		tc.mod(&c)
		c.SetDefaults()
		err := c.Validate()
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")):
			t.Errorf("%s: error %v, want one about %s", tc.name, err, tc.key)
		}
	}
}
