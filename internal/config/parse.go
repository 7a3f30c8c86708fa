package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxPasswordFile caps how much of a password_file is read.
const maxPasswordFile = 64 << 10

// Load reads the file at path and parses it with Parse. A missing file is
// an error unless accounts are set by environment variables
// (KASA2MQTT_ACCOUNTS_*), in which case the configuration comes from the
// environment alone (containers). Other variables alone (such as the
// KASA2MQTT_HTTP_LISTEN the systemd unit and the Docker image set) do not
// excuse a missing file: a wrong -c path must say so.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && accountsFromEnv(envOverrides(os.Environ)) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, expands, resolves and validates a configuration.
//
// path is the file the data came from; it is used in messages, to resolve
// a relative state_dir (default "<dir of path>/state") and relative
// password_file paths. An empty path means the current directory.
//
// Steps: the YAML is parsed into a node tree; every scalar value is
// ${VAR}-expanded and decoded on top of Default() into the field its key
// names (unknown keys, duplicate keys and wrong types are errors with their
// line), an account's keys besides provider and name into its provider's
// settings (providers.Kind.NewSettings); state_dir, the *_file secrets,
// the account name and the provider's defaults are resolved; finally
// Validate runs. Every problem found is reported, as
// *FieldError values joined with errors.Join. On error the Config is nil.
func Parse(data []byte, path string) (*Config, error) {
	return parse(data, path, env{lookup: os.LookupEnv, readFile: readCapped, environ: os.Environ})
}

// env is what parse needs from the outside world; tests and the fuzzer
// replace it.
type env struct {
	lookup   func(string) (string, bool)
	readFile func(string) ([]byte, error)
	// environ lists the environment for KASA2MQTT_* overrides; nil means
	// none.
	environ func() []string
}

func parse(data []byte, path string, e env) (*Config, error) {
	prefix := "config: "
	if path != "" {
		prefix += path + ": "
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, errors.New(prefix + err.Error())
	}
	vars := envOverrides(e.environ)
	if root == nil && len(vars) == 0 {
		return nil, fmt.Errorf("%s%w", prefix, ErrEmpty)
	}
	if root != nil && root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%sline %d: the top level must be a mapping (key: value pairs), got %s",
			prefix, root.Line, describe(root))
	}

	c := Default()
	d := &decoder{lines: map[string]int{}, envs: map[string]string{}, lookup: e.lookup, budget: maxNodes,
		later: map[string][]pair{}, laterEnv: map[string][]laterEnv{}}
	if root != nil {
		d.decode(root, reflect.ValueOf(&c).Elem(), "")
	}
	d.applyEnv(reflect.ValueOf(&c).Elem(), vars)
	d.finishAccounts(c.Accounts)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.lines = d.lines
	if len(d.envs) > 0 {
		c.envs = d.envs
	}

	errs := c.resolve(path, e.readFile)
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// parseYAML parses exactly one YAML document and returns its root, nil for
// an empty document.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	// yaml.v3 reports its own errors as values; this only guards against a
	// parser bug turning a bad file into a crash of the daemon.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: only one YAML document is allowed, found a second one", extra.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root = deref(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	return root, nil
}

// resolve fills the defaults that depend on the file's location or on
// other fields: state_dir, the *_file secrets, the account name and the
// provider's defaults.
func (c *Config) resolve(path string, readFile func(string) ([]byte, error)) []error {
	dir := "."
	if path != "" {
		dir = filepath.Dir(path)
	}
	// An empty list or map is none, as when the key is left out
	// (check-config writes those as [] and {}).
	if len(c.MQTT.Embedded.WebSocket.AllowedOrigins) == 0 {
		c.MQTT.Embedded.WebSocket.AllowedOrigins = nil
	}
	if len(c.Log.Levels) == 0 {
		c.Log.Levels = nil
	}
	for id, d := range c.Devices {
		if d.Scale != nil && len(d.Scale) == 0 {
			d.Scale = nil
			c.Devices[id] = d
		}
	}
	switch {
	case c.StateDir == "":
		c.StateDir = filepath.Join(dir, "state")
	case !filepath.IsAbs(c.StateDir):
		c.StateDir = filepath.Join(dir, c.StateDir)
	}

	var errs []error
	errs = append(errs, c.readSecretFile(dir, "mqtt", "password", &c.MQTT.Password, c.MQTT.PasswordFile, readFile)...)
	for _, f := range []*string{&c.MQTT.TLS.CA, &c.MQTT.TLS.Cert, &c.MQTT.TLS.Key, &c.MQTT.Embedded.TLS.Cert, &c.MQTT.Embedded.TLS.Key} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	c.FillAccountDefaults()
	for i := range c.Accounts {
		a := &c.Accounts[i]
		p := fmt.Sprintf("accounts[%d]", i)
		if a.Settings == nil {
			continue
		}
		settingsSecrets(a.Settings, func(key string, secret *string, file string) {
			errs = append(errs, c.readSecretFile(dir, p, key, secret, file, readFile)...)
		})
		settingFiles(a.Settings, func(path *string) {
			if *path != "" && !filepath.IsAbs(*path) {
				*path = filepath.Join(dir, *path)
			}
		})
	}
	return errs
}

// readSecretFile fills *secret from file (relative to dir), the
// <field>_file variant of accounts[i].<field>; one trailing newline is
// trimmed. Setting both the value and the file is an error.
func (c *Config) readSecretFile(dir, p, field string, secret *string, file string, readFile func(string) ([]byte, error)) []error {
	if file == "" {
		return nil
	}
	fp := p + "." + field + "_file"
	if *secret != "" {
		return []error{newFieldError(fp, file, c.line(fp),
			fmt.Errorf("set either %s.%s or %s, not both", p, field, fp))}
	}
	full := file
	if !filepath.IsAbs(full) {
		full = filepath.Join(dir, full)
	}
	data, err := readFile(full)
	if err != nil {
		return []error{newFieldError(fp, file, c.line(fp), fmt.Errorf("cannot read %s file: %w", strings.ReplaceAll(field, "_", " "), err))}
	}
	s := strings.TrimSuffix(string(data), "\n")
	*secret = strings.TrimSuffix(s, "\r")
	return nil
}

// providerCounts counts the accounts of each provider kind.
func (c *Config) providerCounts() map[string]int {
	n := map[string]int{}
	for _, a := range c.Accounts {
		n[a.Provider]++
	}
	return n
}

// readCapped reads at most maxPasswordFile bytes of a file and fails when
// it is longer (so that a mistaken path like /dev/zero cannot hang Load).
func readCapped(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPasswordFile {
		return nil, fmt.Errorf("%s: larger than %d KiB, is this the right file?", name, maxPasswordFile>>10)
	}
	return data, nil
}

// maxNodes bounds the work the decoder does, so that YAML aliases cannot
// make a small file expensive to decode.
const maxNodes = 100_000

// maxMergeDepth bounds nested "<<" merge keys (and breaks merge cycles).
const maxMergeDepth = 16

// decoder walks a YAML node tree against the Config struct, using the yaml
// struct tags. It expands ${VAR} in scalars, rejects unknown and duplicate
// keys and wrong types, and records the line of every field it sets.
type decoder struct {
	lines map[string]int
	envs  map[string]string // field path -> environment variable that set it
	// verbatim turns ${VAR} expansion off (for values from the environment).
	verbatim bool
	lookup   func(string) (string, bool)
	errs     []error
	budget   int
	// later holds, per account path ("accounts[0]"), the keys besides
	// provider and name, and laterEnv the variables naming them, for
	// finishAccounts.
	later    map[string][]pair
	laterEnv map[string][]laterEnv
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	accountType  = reflect.TypeFor[Account]()
)

func (d *decoder) fail(path, value string, line int, err error) {
	fe := newFieldError(path, value, line, err)
	if name, ok := d.envs[path]; ok {
		fe.Env, fe.Line = name, 0
	}
	d.errs = append(d.errs, fe)
}

// at returns the line to report for a problem with the value n of path:
// the line of its key when known (a block mapping or list value starts on
// the line after its key), else the line of n.
func (d *decoder) at(path string, n *yaml.Node) int {
	if l, ok := d.lines[path]; ok {
		return l
	}
	return n.Line
}

// spend charges one unit of work and reports false (after recording one
// error) when the budget is exhausted.
func (d *decoder) spend(n *yaml.Node) bool {
	d.budget--
	if d.budget == 0 {
		d.fail("", "", n.Line, errors.New("document too complex (too many nodes after alias expansion)"))
	}
	return d.budget > 0
}

// decode decodes n into v, the field at path. A null node leaves v as is,
// so omitted or empty keys keep their defaults.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if !d.spend(n) || isNull(n) {
		return
	}
	switch v.Type() {
	case durationType:
		d.decodeDuration(n, v, path)
		return
	case accountType:
		d.decodeAccount(n, v.Addr().Interface().(*Account), path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int:
		s, ok := d.scalar(n, path, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			d.fail(path, s, d.at(path, n), errors.New("must be a whole number"))
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			d.fail(path, s, d.at(path, n), errors.New("must be true or false"))
		}
	default:
		// Only reachable if a field of an unsupported type is added to
		// Config without teaching the decoder about it.
		d.fail(path, "", d.at(path, n), fmt.Errorf("internal error: cannot decode into %s", v.Type()))
	}
}

// scalar returns the expanded value of a scalar node; want describes the
// expected value for the error when n is a mapping or list.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "", d.at(path, n), fmt.Errorf("must be %s, got %s", want, describe(n)))
		return "", false
	}
	if d.verbatim {
		return n.Value, true
	}
	s, err := expand(n.Value, d.lookup)
	if err != nil {
		d.fail(path, "", d.at(path, n), err)
		return "", false
	}
	return s, true
}

var bareNumber = regexp.MustCompile(`^[-+]?[0-9]+$`)

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, `a duration such as "60s"`)
	if !ok {
		return
	}
	s = strings.TrimSpace(s)
	if bareNumber.MatchString(s) {
		d.fail(path, s, d.at(path, n), fmt.Errorf(`a duration needs a unit: write e.g. "%ss" (units: s, m, h)`, strings.TrimPrefix(s, "+")))
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(path, s, d.at(path, n), errors.New(`must be a duration such as "60s", "30m" or "1h30m"`))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "", d.at(path, n), fmt.Errorf("must be a mapping (key: value pairs), got %s", describe(n)))
		return
	}
	fields, names := structFields(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		child := joinPath(path, p.key)
		idx, ok := fields[p.key]
		if !ok {
			d.fail(child, "", p.k.Line, unknownKey(p.key, names))
			continue
		}
		d.lines[child] = p.k.Line
		d.decode(p.v, v.Field(idx), child)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "", d.at(path, n), fmt.Errorf("must be a list, got %s", describe(n)))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, elem := range n.Content {
		child := fmt.Sprintf("%s[%d]", path, i)
		d.lines[child] = deref(elem).Line
		d.decode(elem, s.Index(i), child)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "", d.at(path, n), fmt.Errorf("must be a mapping (key: value pairs), got %s", describe(n)))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path, 0) {
		key := reflect.ValueOf(p.key)
		child := mapPath(path, p.key)
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		d.lines[child] = p.k.Line
		d.decode(p.v, elem, child)
		v.SetMapIndex(key, elem)
	}
}

// pair is one key/value of a mapping.
type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs returns the entries of mapping n in order, with "<<" merge keys
// applied (explicit keys win over merged ones; among merged mappings the
// first wins) and duplicate keys reported.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var merged, own []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if !d.spend(k) {
			return nil
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, path, depth)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, "", k.Line, fmt.Errorf("keys must be strings, got %s", describe(k)))
			continue
		}
		key := k.Value
		if isNull(k) {
			key = ""
		}
		if first, dup := seen[key]; dup {
			d.fail(joinPath(path, key), "", k.Line, fmt.Errorf("duplicate key (first set on line %d)", first))
			continue
		}
		seen[key] = k.Line
		own = append(own, pair{key: key, k: k, v: val})
	}
	if len(merged) == 0 {
		return own
	}
	out := make([]pair, 0, len(merged)+len(own))
	for _, p := range merged {
		if _, ok := seen[p.key]; ok {
			continue
		}
		seen[p.key] = p.k.Line
		out = append(out, p)
	}
	return append(out, own...)
}

// merge returns the pairs contributed by the value of a "<<" key: a
// mapping or a list of mappings.
func (d *decoder) merge(val *yaml.Node, path string, depth int) []pair {
	val = deref(val)
	if depth >= maxMergeDepth {
		d.fail(path, "", val.Line, errors.New(`"<<" merges nested too deeply`))
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range val.Content {
			if m = deref(m); m.Kind != yaml.MappingNode {
				d.fail(path, "", m.Line, fmt.Errorf(`"<<" needs a mapping or a list of mappings, got %s`, describe(m)))
				continue
			}
			out = append(out, d.pairs(m, path, depth+1)...)
		}
		return out
	}
	d.fail(path, "", val.Line, fmt.Errorf(`"<<" needs a mapping or a list of mappings, got %s`, describe(val)))
	return nil
}

// structFields maps the yaml tag names of t's exported fields to their
// index and returns the names in declaration order.
func structFields(t reflect.Type) (map[string]int, []string) {
	fields := make(map[string]int, t.NumField())
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

// unknownKey explains an unknown key, suggesting the closest valid one.
func unknownKey(key string, valid []string) error {
	// Suggest the closest key within edit distance 1, or 2 for keys of six
	// letters or more ("sever" -> "server", but not "foo" -> "log").
	best, bestDist := "", 3
	for _, v := range valid {
		dist := editDistance(strings.ToLower(key), v)
		if dist < bestDist && (dist == 1 || dist == 2 && len(v) >= 6) {
			best, bestDist = v, dist
		}
	}
	if best != "" {
		return fmt.Errorf("unknown key (did you mean %q?)", best)
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	return fmt.Errorf("unknown key (valid keys: %s)", strings.Join(sorted, ", "))
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// joinPath appends a struct key to a field path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapPath appends a map key (a device id) to a field path, quoting keys
// that would make the path ambiguous: devices.ABC123, devices["a.b"].
func mapPath(path, key string) string {
	if plainKey.MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// deref follows alias nodes to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a null scalar ("", "~", "null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of n for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "an alias"
}

// expand replaces ${NAME} in s by the value of the environment variable
// NAME and "$$" by "$". Any other "$" is kept. An unset variable, an
// unterminated "${" or an invalid name is an error; the error never
// repeats s itself, which may be a secret.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`unterminated "${" (write "$$" for a literal "$")`)
			}
			name := s[i+2 : i+2+end]
			if !envName.MatchString(name) {
				return "", errors.New(`invalid variable reference: "${...}" needs a name of letters, digits and '_' (write "$$" for a literal "$")`)
			}
			val, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %q is not set", name)
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
