package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kasa2mqtt/kasa2mqtt/bridge"
	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/logging"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// Supported enumerations, in the order they are listed in messages.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"console", "json"}
)

var (
	accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	deviceTopic = regexp.MustCompile(`^[a-z0-9_-]+(/[a-z0-9_-]+)*$`)
)

// Validate checks every field and returns all violations as *FieldError
// values joined with errors.Join, or nil. It expects defaults to be filled
// in as Load/Parse do (Default() plus the account name and the provider's
// defaults); it does not modify c. An account of a known provider without
// Settings is checked as an empty one. Secrets never appear in the
// returned errors.
func (c *Config) Validate() error {
	return errors.Join(c.validate()...)
}

// validator collects FieldErrors with their line numbers.
type validator struct {
	c    *Config
	errs []error
}

func (v *validator) add(field, value string, err error) {
	fe := newFieldError(field, value, v.c.line(field), err)
	if name, ok := v.c.envs[field]; ok {
		fe.Env, fe.Line = name, 0
	}
	v.errs = append(v.errs, fe)
}

func (v *validator) addf(field, value, format string, args ...any) {
	v.add(field, value, fmt.Errorf(format, args...))
}

func (c *Config) validate() []error {
	v := &validator{c: c}
	c.validateMQTT(v)
	c.validateHomeAssistant(v)
	c.validateAccounts(v)
	c.validatePoll(v)
	c.validateLog(v)
	c.validateDevices(v)
	c.validateHTTP(v)
	return v.errs
}

func (c *Config) validateMQTT(v *validator) {
	m := c.MQTT
	if m.Server != "" {
		if err := checkServer(m.Server); err != nil {
			v.add("mqtt.server", redactURL(m.Server), err)
		}
	}
	if err := checkTopic(m.BaseTopic); err != nil {
		v.add("mqtt.base_topic", m.BaseTopic, err)
	}
	if strings.ContainsAny(m.ClientID, "+#") {
		v.add("mqtt.client_id", m.ClientID, errors.New("must not contain '+' or '#'"))
	}
	c.validateEmbedded(v)
	if m.KeepAlive < bridge.MinKeepAlive {
		v.addf("mqtt.keepalive", m.KeepAlive.String(), "must be at least %s", bridge.MinKeepAlive)
	}
	if m.MaxReconnectInterval < MinMaxReconnectInterval {
		v.addf("mqtt.max_reconnect_interval", m.MaxReconnectInterval.String(), "must be at least %s", MinMaxReconnectInterval)
	}
	switch m.Output {
	case bridge.OutputJSON, bridge.OutputAttributeAndJSON:
	case bridge.OutputAttribute:
		if c.HomeAssistant.Enabled {
			v.add("mqtt.output", m.Output, errors.New(`Home Assistant discovery reads the JSON state: use "attribute_and_json", or set homeassistant.enabled: false`))
		}
	default:
		v.addf("mqtt.output", m.Output, "must be %q, %q or %q", bridge.OutputJSON, bridge.OutputAttribute, bridge.OutputAttributeAndJSON)
	}
	if m.TLS.set() {
		if !strings.HasPrefix(strings.ToLower(m.Server), "mqtts://") {
			v.add("mqtt.tls", "", errors.New("applies to mqtts:// servers only: set mqtt.server to mqtts://host[:port]"))
		} else if _, field, err := buildTLS(m.TLS); err != nil {
			val := map[string]string{"mqtt.tls.ca": m.TLS.CA, "mqtt.tls.cert": m.TLS.Cert, "mqtt.tls.key": m.TLS.Key}[field]
			v.add(field, val, err)
		}
	}
}

func (c *Config) validateHTTP(v *validator) {
	if c.HTTP.Listen == "" {
		return
	}
	if err := checkListen(c.HTTP.Listen, "9792"); err != nil {
		v.add("http.listen", c.HTTP.Listen, err)
	}
}

// checkServer accepts mqtt://host[:port] and mqtts://host[:port]. Its
// errors never quote the URL, which may carry a password.
func checkServer(s string) error {
	const want = "must be mqtt://host[:port] or mqtts://host[:port]"
	u, err := url.Parse(s)
	if err != nil {
		return errors.New(want)
	}
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "mqtts":
	case "tcp":
		return errors.New(`scheme "tcp://" is not supported: use mqtt://host[:port]`)
	case "ssl", "tls":
		return fmt.Errorf(`scheme "%s://" is not supported: use mqtts://host[:port] for TLS`, u.Scheme)
	case "ws", "wss":
		return errors.New("websocket brokers are not supported: " + want)
	default:
		return errors.New(want)
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return errors.New(want)
	case u.User != nil:
		return errors.New("credentials in the URL are not allowed: set mqtt.username and mqtt.password")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return errors.New(want + " (no path or query)")
	case u.Hostname() == "":
		return errors.New("missing host: " + want)
	}
	if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port: " + want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("port must be 1-65535")
		}
	}
	return nil
}

// checkTopic checks a topic or topic prefix used for publishing.
func checkTopic(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(s, "+#"):
		return errors.New("must not contain MQTT wildcards '+' or '#'")
	case strings.ContainsRune(s, 0):
		return errors.New("must not contain NUL")
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return errors.New("must not start or end with '/'")
	}
	return nil
}

// checkListen accepts host:port with a numeric port 0-65535 (0 picks a
// free port); an empty host listens on every interface. examplePort is
// the port the error message suggests.
func checkListen(s, examplePort string) error {
	want := fmt.Sprintf(`must be host:port, e.g. "127.0.0.1:%s" or ":%s"`, examplePort, examplePort)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(want)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("port must be 0-65535")
	}
	if strings.ContainsAny(host, " /") {
		return errors.New(want)
	}
	return nil
}

func (c *Config) validateHomeAssistant(v *validator) {
	h := c.HomeAssistant
	if err := checkTopic(h.DiscoveryPrefix); err != nil {
		v.add("homeassistant.discovery_prefix", h.DiscoveryPrefix, err)
	} else if h.DiscoveryPrefix == c.MQTT.BaseTopic {
		v.add("homeassistant.discovery_prefix", h.DiscoveryPrefix,
			errors.New("must differ from mqtt.base_topic"))
	}
	switch {
	case h.StatusTopic == "":
		v.add("homeassistant.status_topic", "", errors.New("must not be empty"))
	case strings.ContainsAny(h.StatusTopic, "+#"):
		v.add("homeassistant.status_topic", h.StatusTopic, errors.New("must not contain MQTT wildcards '+' or '#'"))
	}
}

func (c *Config) validateAccounts(v *validator) {
	if len(c.Accounts) == 0 {
		v.add("accounts", "", errors.New("at least one account is required"))
		return
	}
	kinds := c.providerCounts()
	names := map[string]int{}
	supported := strings.Join(providers.Names(), ", ")
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		kind, known := providers.Lookup(a.Provider)
		switch {
		case a.Provider == "":
			v.addf(p+".provider", "", "required; supported providers: %s", supported)
		case !known:
			v.addf(p+".provider", a.Provider, "unsupported provider; supported providers: %s", supported)
		}

		switch {
		case a.Name == "" && kinds[a.Provider] > 1:
			v.addf(p+".name", "", "required when several %q accounts are configured: give each a unique name", a.Provider)
		case a.Name == "":
			v.add(p+".name", "", errors.New("must not be empty"))
		case !accountName.MatchString(a.Name):
			v.add(p+".name", a.Name, errors.New("must be 1-32 of a-z, 0-9, '_' and '-', starting with a letter or digit"))
		default:
			if first, dup := names[a.Name]; dup {
				v.addf(p+".name", a.Name, "duplicate account name (also used by accounts[%d])", first)
			} else {
				names[a.Name] = i
			}
		}

		if a.Budget != "" {
			if _, err := cloud.ParseBudget(a.Budget); err != nil {
				v.add(p+".budget", a.Budget, err)
			}
		}
		if known {
			c.validateSettings(v, p, kind, a)
		}
	}
}

// validateSettings checks an account's provider settings with the
// provider's own Validate, placing each problem at its key.
func (c *Config) validateSettings(v *validator, p string, kind providers.Kind, a Account) {
	s := a.Settings
	if s == nil {
		s = kind.NewSettings()
		s.SetDefaults()
	}
	if !kind.Owns(s) {
		v.addf(p+".provider", a.Provider, "the account's settings are a %T, not a %s configuration", s, kind.Name)
		return
	}
	err := s.Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		var ce *cloud.ConfigError
		if errors.As(err, &ce) {
			v.add(p+"."+ce.Key, redactKey(ce.Key, ce.Value), ce.Err)
		} else {
			v.add(p, "", err)
		}
	}
}

func (c *Config) validatePoll(v *validator) {
	if c.Poll.Interval < MinPollInterval {
		v.addf("poll.interval", c.Poll.Interval.String(), "must be at least %s", MinPollInterval)
	}
	if c.Poll.ReconcileInterval != 0 && c.Poll.ReconcileInterval < c.Poll.Interval { // 0: the default
		v.addf("poll.reconcile_interval", c.Poll.ReconcileInterval.String(), "must be at least poll.interval (%s)", c.Poll.Interval)
	}
	if c.Poll.DeviceListInterval < MinDeviceListInterval {
		v.addf("poll.device_list_interval", c.Poll.DeviceListInterval.String(), "must be at least %s", MinDeviceListInterval)
	}
	if c.Poll.RequestTimeout < MinRequestTimeout {
		v.addf("poll.request_timeout", c.Poll.RequestTimeout.String(), "must be at least %s", MinRequestTimeout)
	}
	if c.Poll.Concurrency < 1 || c.Poll.Concurrency > MaxConcurrency {
		v.addf("poll.concurrency", strconv.Itoa(c.Poll.Concurrency), "must be from 1 to %d", MaxConcurrency)
	}
	if c.Poll.UnavailableAfter < 1 {
		v.addf("poll.unavailable_after", strconv.Itoa(c.Poll.UnavailableAfter), "must be at least 1")
	}
}

func (c *Config) validateLog(v *validator) {
	if !slices.Contains(logLevels, c.Log.Level) {
		v.addf("log.level", c.Log.Level, "must be one of %s", strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		v.addf("log.format", c.Log.Format, "must be one of %s", strings.Join(logFormats, ", "))
	}
	comps := make([]string, 0, len(c.Log.Levels))
	for k := range c.Log.Levels {
		comps = append(comps, k)
	}
	sort.Strings(comps)
	for _, k := range comps {
		p := mapPath("log.levels", k)
		if comps := logging.Components(); !slices.Contains(comps, k) {
			v.addf(p, "", "unknown component %q; one of %s", k, strings.Join(comps, ", "))
		} else if lvl := c.Log.Levels[k]; !slices.Contains(logLevels, lvl) {
			v.addf(p, lvl, "must be one of %s", strings.Join(logLevels, ", "))
		}
	}
}

func (c *Config) validateDevices(v *validator) {
	ids := make([]string, 0, len(c.Devices))
	for id := range c.Devices {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	topics := map[string]string{}
	for _, id := range ids {
		p := mapPath("devices", id)
		if strings.TrimSpace(id) == "" {
			v.add(p, "", errors.New("device id must not be empty (use the id shown by `kasa2mqtt devices`)"))
			continue
		}
		t := c.Devices[id].Topic
		if t == "" {
			continue
		}
		switch {
		case !deviceTopic.MatchString(t):
			v.add(p+".topic", t, errors.New("must be lowercase letters, digits, '_' and '-', with '/' between levels"))
		case t == "bridge" || strings.HasPrefix(t, "bridge/"):
			v.add(p+".topic", t, errors.New(`"bridge" is reserved for kasa2mqtt's own topics`))
		case hasReservedSegment(t):
			v.add(p+".topic", t, errors.New(`levels named "set", "get" or "availability" are reserved for command and availability topics`))
		default:
			if other, dup := topics[t]; dup {
				v.addf(p+".topic", t, "same topic as %s", mapPath("devices", other))
			} else {
				topics[t] = id
			}
		}
	}
}

// line returns the line a field (or, failing that, its closest parent)
// was set on, 0 when unknown.
func (c *Config) line(path string) int {
	for path != "" {
		if n, ok := c.lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// hasReservedSegment reports whether a topic level would make the device's
// state or availability topic look like another device's command topic.
func hasReservedSegment(topic string) bool {
	for _, seg := range strings.Split(topic, "/") {
		switch seg {
		case "set", "get", "availability":
			return true
		}
	}
	return false
}
