package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment overrides.
//
// Every key of the file can also be set by an environment variable named
// KASA2MQTT_ followed by the key's path in upper case, path elements joined
// by '_': mqtt.server is KASA2MQTT_MQTT_SERVER, mqtt.tls.ca is
// KASA2MQTT_MQTT_TLS_CA, accounts[0].password is KASA2MQTT_ACCOUNTS_0_PASSWORD
// and log.levels.kasa is KASA2MQTT_LOG_LEVELS_KASA. A variable wins over the
// file. Its value is used verbatim (no ${VAR} expansion) and decoded like the
// file's value would be (durations need a unit, booleans are true/false).
// The devices section is keyed by cloud ids and can only be set in the file.
// A KASA2MQTT_ variable that names no key is an error, so that a typo is not
// silently ignored; KASA2MQTT_TEST_* variables are left to the test suite.

// maxEnvAccountIndex bounds KASA2MQTT_ACCOUNTS_<n>_... indices.
const maxEnvAccountIndex = 63

// envVar is one KASA2MQTT_ variable.
type envVar struct{ name, value string }

// envOverrides picks the KASA2MQTT_ variables out of environ ("NAME=value"
// strings), sorted by name. nil environ means none.
func envOverrides(environ func() []string) []envVar {
	if environ == nil {
		return nil
	}
	var out []envVar
	for _, kv := range environ() {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		out = append(out, envVar{name, value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// accountsFromEnv reports whether vars set any accounts[] key.
func accountsFromEnv(vars []envVar) bool {
	for _, v := range vars {
		if strings.HasPrefix(v.name, EnvPrefix+"ACCOUNTS_") {
			return true
		}
	}
	return false
}

// applyEnv sets the fields named by vars on c (the root value).
func (d *decoder) applyEnv(root reflect.Value, vars []envVar) {
	for _, ev := range vars {
		rest := strings.TrimPrefix(ev.name, EnvPrefix)
		if err := d.setEnv(root, rest, "", ev); err != nil {
			d.errs = append(d.errs, &FieldError{Env: ev.name, Err: err})
		}
	}
}

// errUnknownEnv explains an environment variable that names no key; it
// never repeats the value, which may be a secret.
func errUnknownEnv(path string) error {
	where := "no such config key"
	if path != "" {
		where = "no such key under " + path
	}
	return fmt.Errorf("%s (names are %s<SECTION>_<KEY> in upper case, e.g. %sMQTT_SERVER, %sACCOUNTS_0_PASSWORD)",
		where, EnvPrefix, EnvPrefix, EnvPrefix)
}

// setEnv walks v (the field at path) along rest, the upper-case remainder
// of the variable's name, and decodes ev's value into the leaf it names.
func (d *decoder) setEnv(v reflect.Value, rest, path string, ev envVar) error {
	if v.Type() == accountType {
		return d.setAccountEnv(v, rest, path, ev)
	}
	if v.Type() == durationType || (v.Kind() != reflect.Struct && v.Kind() != reflect.Slice && v.Kind() != reflect.Map) {
		if rest != "" {
			return errUnknownEnv(path)
		}
		d.envs[path] = ev.name
		delete(d.lines, path) // the file's line no longer tells where the value came from
		d.verbatim = true
		d.decode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ev.value}, v, path)
		d.verbatim = false
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		fields, names := structFields(v.Type())
		// Longest names first, so PASSWORD_FILE is not read as PASSWORD + FILE.
		sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
		for _, n := range names {
			up := strings.ToUpper(n)
			child := v.Field(fields[n])
			if rest == up {
				if isLeaf(child) {
					return d.setEnv(child, "", joinPath(path, n), ev)
				}
				return fmt.Errorf("%s is a section: set its keys, e.g. %s%s_<KEY>", joinPath(path, n), EnvPrefix, strings.ToUpper(strings.ReplaceAll(joinPath(path, n), ".", "_")))
			}
			if strings.HasPrefix(rest, up+"_") && !isLeaf(child) {
				return d.setEnv(child, rest[len(up)+1:], joinPath(path, n), ev)
			}
		}
		return errUnknownEnv(path)
	case reflect.Slice:
		idx, tail, _ := strings.Cut(rest, "_")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || strconv.Itoa(i) != idx {
			return fmt.Errorf("%s needs an index: %s%s_<n>_<KEY>, e.g. %s%s_0_%s", path, EnvPrefix, strings.ToUpper(path), EnvPrefix, strings.ToUpper(path), "NAME")
		}
		if i > maxEnvAccountIndex {
			return fmt.Errorf("%s index %d is too large (at most %d)", path, i, maxEnvAccountIndex)
		}
		if i >= v.Len() {
			grown := reflect.MakeSlice(v.Type(), i+1, i+1)
			reflect.Copy(grown, v)
			v.Set(grown)
		}
		return d.setEnv(v.Index(i), tail, fmt.Sprintf("%s[%d]", path, i), ev)
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.String || rest == "" {
			return fmt.Errorf("%s can only be set in the config file", path)
		}
		key := strings.ToLower(rest)
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.setEnv(elem, "", mapPath(path, key), ev); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(key), elem)
		return nil
	}
	return errUnknownEnv(path)
}

// isLeaf reports whether v holds a single value rather than a section.
func isLeaf(v reflect.Value) bool {
	if v.Type() == durationType {
		return true
	}
	switch v.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Map:
		return false
	}
	return true
}
