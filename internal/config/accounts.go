package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// Account is one cloud account. In the file it is one flat mapping:
// provider, name and the provider's own keys side by side.
type Account struct {
	// Provider is the provider kind, one of providers.Names() ("kasa",
	// "tuya"). Required.
	Provider string `yaml:"provider"`
	// Name identifies the account in logs, state files and topics; unique,
	// ^[a-z0-9][a-z0-9_-]{0,31}$. Default: the provider kind when only one
	// account of that kind is configured; required otherwise.
	Name string `yaml:"name"`
	// Budget is the account's cloud call budget: "<calls>/day",
	// "<calls>/month" (calendar periods in UTC) or "none" (see
	// cloud.ParseBudget). Default: the provider's (providers.Kind
	// DefaultBudget: "30000/month" for tuya, the trial quota; "none" for
	// kasa), filled in by Load.
	Budget string `yaml:"budget"`
	// Settings are the provider's own keys (such as *kasa.Config), decoded
	// strictly into the provider's type once the provider is known, with
	// the provider's defaults filled in. Nil for an unknown provider.
	Settings providers.Settings `yaml:"-"`
}

// FillAccountDefaults fills in the accounts what Load fills for a file: an
// account's name when it is the only one of its provider, its provider's
// call budget, and its provider's defaults (Settings.SetDefaults, e.g. a Kasa account's api
// "v1"). Load calls it; a Config built in code (the demo, tests) gets it
// from daemon.Main.Run, and should call it itself before Validate. It is
// idempotent and leaves an account without Settings alone.
func (c *Config) FillAccountDefaults() {
	kinds := c.providerCounts()
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.Name == "" && a.Provider != "" && kinds[a.Provider] == 1 {
			a.Name = a.Provider
		}
		if k, ok := providers.Lookup(a.Provider); ok && a.Budget == "" {
			a.Budget = k.DefaultBudget.String()
		}
		if a.Settings != nil {
			a.Settings.SetDefaults()
		}
	}
}

// The keys of an account that are not the provider's.
var accountKeys = []string{"provider", "name", "budget"}

// MarshalYAML writes the account as in the file: provider, name, then the
// provider's keys in the order of its type.
func (a Account) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	kvs := [][2]string{{"provider", a.Provider}, {"name", a.Name}}
	if a.Budget != "" {
		kvs = append(kvs, [2]string{"budget", a.Budget})
	}
	for _, kv := range kvs {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[1]})
	}
	if a.Settings == nil {
		return n, nil
	}
	var s yaml.Node
	if err := s.Encode(a.Settings); err != nil {
		return nil, err
	}
	n.Content = append(n.Content, s.Content...)
	return n, nil
}

// EffectiveBudget returns the account's call budget: Budget parsed, or
// its provider's default when Budget is empty (an invalid Budget, which
// Validate reports, counts as none).
func (a Account) EffectiveBudget() cloud.Budget {
	if a.Budget == "" {
		if k, ok := providers.Lookup(a.Provider); ok {
			return k.DefaultBudget
		}
		return cloud.NoBudget
	}
	b, _ := cloud.ParseBudget(a.Budget)
	return b
}

// laterEnv is an environment variable for a provider's key of an account,
// applied once the account's provider is known.
type laterEnv struct {
	rest string // the variable's name after KASA2MQTT_ACCOUNTS_<n>_
	ev   envVar
}

// decodeAccount decodes provider and name and keeps the other keys for
// finishAccounts, which decodes them into the provider's settings once the
// provider is known (an environment variable may set it).
func (d *decoder) decodeAccount(n *yaml.Node, a *Account, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "", d.at(path, n), fmt.Errorf("must be a mapping (key: value pairs), got %s", describe(n)))
		return
	}
	for _, p := range d.pairs(n, path, 0) {
		child := joinPath(path, p.key)
		switch p.key {
		case "provider":
			d.lines[child] = p.k.Line
			d.decode(p.v, reflect.ValueOf(&a.Provider).Elem(), child)
		case "name":
			d.lines[child] = p.k.Line
			d.decode(p.v, reflect.ValueOf(&a.Name).Elem(), child)
		case "budget":
			d.lines[child] = p.k.Line
			d.decode(p.v, reflect.ValueOf(&a.Budget).Elem(), child)
		default:
			d.later[path] = append(d.later[path], p)
		}
	}
}

// setAccountEnv sets provider or name of the account v from a variable, or
// keeps a variable naming another key for finishAccounts.
func (d *decoder) setAccountEnv(v reflect.Value, rest, path string, ev envVar) error {
	a := v.Addr().Interface().(*Account)
	switch rest {
	case "PROVIDER":
		return d.setEnv(reflect.ValueOf(&a.Provider).Elem(), "", joinPath(path, "provider"), ev)
	case "NAME":
		return d.setEnv(reflect.ValueOf(&a.Name).Elem(), "", joinPath(path, "name"), ev)
	case "BUDGET":
		return d.setEnv(reflect.ValueOf(&a.Budget).Elem(), "", joinPath(path, "budget"), ev)
	case "":
		return errUnknownEnv(path)
	}
	d.laterEnv[path] = append(d.laterEnv[path], laterEnv{rest, ev})
	return nil
}

// finishAccounts decodes each account's remaining keys, from the file and
// then from the environment, strictly into a new configuration of its
// provider. A key of another provider is an error saying whose it is
// (unless its value is empty); a key no provider has is an unknown key.
// An account of an unknown provider gets no settings (Validate reports the
// provider), only errors for keys no provider has.
func (d *decoder) finishAccounts(accounts []Account) {
	for i := range accounts {
		a := &accounts[i]
		path := fmt.Sprintf("accounts[%d]", i)
		k, known := providers.Lookup(a.Provider)
		if !known {
			for _, p := range d.later[path] {
				if keyOwner(p.key) == "" {
					d.fail(joinPath(path, p.key), "", p.k.Line, unknownKey(p.key, allAccountKeys()))
				}
			}
			for _, e := range d.laterEnv[path] {
				if envOwner(e.rest) == "" {
					d.errs = append(d.errs, &FieldError{Env: e.ev.name, Err: errUnknownEnv(path)})
				}
			}
			continue
		}
		s := k.NewSettings()
		sv := reflect.ValueOf(s).Elem()
		fields, names := structFields(sv.Type())
		for _, p := range d.later[path] {
			child := joinPath(path, p.key)
			if idx, ok := fields[p.key]; ok {
				d.lines[child] = p.k.Line
				d.decode(p.v, sv.Field(idx), child)
				continue
			}
			if keyOwner(p.key) == "" {
				d.fail(child, "", p.k.Line, unknownKey(p.key, slices.Concat(accountKeys, names)))
				continue
			}
			if v := deref(p.v); !isNull(v) && !(v.Kind == yaml.ScalarNode && v.Value == "") {
				val := ""
				if v.Kind == yaml.ScalarNode {
					val = v.Value
				}
				d.fail(child, redactKey(p.key, val), p.k.Line, foreignKey(p.key, k.Name, names))
			}
		}
		for _, e := range d.laterEnv[path] {
			err := d.setEnv(sv, e.rest, path, e.ev)
			if err == nil {
				continue
			}
			key := envOwnerKey(e.rest)
			switch {
			case key == "":
				d.errs = append(d.errs, &FieldError{Env: e.ev.name, Err: err})
			case e.ev.value != "":
				fe := newFieldError(joinPath(path, key), redactKey(key, e.ev.value), 0, foreignKey(key, k.Name, names))
				fe.Env = e.ev.name
				d.errs = append(d.errs, fe)
			}
		}
		a.Settings = s
	}
}

// foreignKey explains a key of another provider on an account of kind.
func foreignKey(key, kind string, own []string) error {
	return fmt.Errorf("is for %s accounts; a %s account has %s", keyOwner(key), kind, strings.Join(slices.Concat(accountKeys, own), ", "))
}

// keyOwner returns the first provider kind whose settings have key, "".
func keyOwner(key string) string {
	for _, k := range providers.Kinds() {
		if _, ok := settingsFields(k)[key]; ok {
			return k.Name
		}
	}
	return ""
}

// envOwner returns the provider kind whose settings have the key an
// environment variable names (the rest after ACCOUNTS_<n>_), "".
func envOwner(rest string) string {
	if key := envOwnerKey(rest); key != "" {
		return keyOwner(key)
	}
	return ""
}

// envOwnerKey returns the key of any provider that rest names, "".
func envOwnerKey(rest string) string {
	for _, key := range allAccountKeys() {
		if strings.ToUpper(key) == rest {
			return key
		}
	}
	return ""
}

// allAccountKeys lists provider, name and the keys of every provider.
func allAccountKeys() []string {
	keys := slices.Clone(accountKeys)
	for _, k := range providers.Kinds() {
		for key := range settingsFields(k) {
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// settingsFields maps the keys of a kind's settings to their struct tags.
func settingsFields(k providers.Kind) map[string]reflect.StructTag {
	t := reflect.TypeOf(k.NewSettings()).Elem()
	out := map[string]reflect.StructTag{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "" && name != "-" {
			out[name] = f.Tag
		}
	}
	return out
}

// settingsLeaves maps the keys of a kind's settings, those of nested
// sections included ("v2.secret_key"), to their struct tags.
func settingsLeaves(k providers.Kind) map[string]reflect.StructTag {
	out := map[string]reflect.StructTag{}
	walkSettings(reflect.ValueOf(k.NewSettings()).Elem(), "", func(key string, _ reflect.Value, tag reflect.StructTag) {
		out[key] = tag
	})
	return out
}

// walkSettings calls f for every exported leaf field of the settings
// struct v with its key (the dotted path of yaml keys below v, prefixed
// by prefix), the field and its tag; nested structs are sections.
func walkSettings(v reflect.Value, prefix string, f func(key string, field reflect.Value, tag reflect.StructTag)) {
	fields, names := structFields(v.Type())
	for _, name := range names {
		i := fields[name]
		key := joinPath(prefix, name)
		if fv := v.Field(i); fv.Kind() == reflect.Struct && fv.Type() != durationType {
			walkSettings(fv, key, f)
			continue
		}
		f(key, v.Field(i), v.Type().Field(i).Tag)
	}
}

// secretKeys lists the account keys of every provider tagged secret:"true",
// those of nested sections as dotted paths ("v2.secret_key").
func secretKeys() []string {
	var keys []string
	for _, k := range providers.Kinds() {
		for key, tag := range settingsLeaves(k) {
			if tag.Get("secret") == "true" {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// redactKey returns value as safe to show for an account key: a URL key's
// password masked (secret keys are masked by newFieldError).
func redactKey(key, value string) string {
	for _, k := range providers.Kinds() {
		if tag, ok := settingsLeaves(k)[key]; ok && tag.Get("secret") == "url" {
			return redactURL(value)
		}
	}
	return value
}

// settingsSecrets calls f for each field of s tagged secret:"true", in
// nested sections too, with its key ("password", "v2.secret_key"), a
// pointer to it and the value of its sibling "<key>_file" ("" when there
// is none).
func settingsSecrets(s providers.Settings, f func(key string, secret *string, file string)) {
	sv := reflect.ValueOf(s).Elem()
	walkSettings(sv, "", func(key string, field reflect.Value, tag reflect.StructTag) {
		if tag.Get("secret") != "true" || field.Kind() != reflect.String {
			return
		}
		f(key, field.Addr().Interface().(*string), settingString(sv, key+"_file"))
	})
}

// settingFiles calls f with a pointer to each string field of s whose key
// ends in "_file" and is not the file of a secret (those are read at load
// time): paths the provider opens itself, such as v2.ca_file.
func settingFiles(s providers.Settings, f func(path *string)) {
	sv := reflect.ValueOf(s).Elem()
	secrets := map[string]bool{}
	settingsSecrets(s, func(key string, _ *string, _ string) { secrets[key+"_file"] = true })
	walkSettings(sv, "", func(key string, field reflect.Value, _ reflect.StructTag) {
		if strings.HasSuffix(key, "_file") && !secrets[key] && field.Kind() == reflect.String {
			f(field.Addr().Interface().(*string))
		}
	})
}

// settingString returns the string field at the dotted key of the
// settings struct v, "" when there is none.
func settingString(v reflect.Value, key string) string {
	out := ""
	walkSettings(v, "", func(k string, field reflect.Value, _ reflect.StructTag) {
		if k == key && field.Kind() == reflect.String {
			out = field.String()
		}
	})
	return out
}

// redactSettings returns a copy of s with its secrets masked and the
// passwords of its URLs masked, in nested sections too.
func redactSettings(s providers.Settings) providers.Settings {
	if s == nil {
		return nil
	}
	cp := reflect.New(reflect.TypeOf(s).Elem())
	cp.Elem().Set(reflect.ValueOf(s).Elem())
	walkSettings(cp.Elem(), "", func(_ string, f reflect.Value, tag reflect.StructTag) {
		if f.Kind() != reflect.String || !f.CanSet() {
			return
		}
		switch tag.Get("secret") {
		case "true":
			f.SetString(mask(f.String()))
		case "url":
			f.SetString(redactURL(f.String()))
		}
	})
	return cp.Interface().(providers.Settings)
}
