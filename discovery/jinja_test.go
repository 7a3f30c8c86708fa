package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A Jinja evaluator for exactly the subset our value templates use, with
// Home Assistant's rules (homeassistant/helpers/template, MQTT's
// async_render_with_possible_json_value):
//
//   - variables: value (the payload) and value_json (the payload parsed
//     as JSON; undefined when it does not parse, e.g. empty);
//   - reading an attribute or subscript of an undefined value is an error
//     (UndefinedError: HA logs "Template variable error" and "Error parsing
//     value" and keeps the old state);
//   - printing an undefined value, or testing its truth, logs a warning
//     (HA's LoggingUndefined) and gives ''/false;
//   - "x is defined" and "x | default(y)" never log;
//   - Jinja's getattr tries the Python attribute first, then the item;
//     subscripts try the item first, then the attribute; a lookup that
//     fails on a defined value gives undefined (no error);
//   - the rendered text is stripped of surrounding whitespace.
//
// Grammar (anything else is a parse error, so a template using more than
// this subset fails the test instead of being judged wrongly):
//
//	template := "{{" expr "}}"
//	expr     := or [ "if" or "else" expr ]
//	or       := and { "or" and }
//	and      := not { "and" not }
//	not      := "not" not | test
//	test     := filter [ "is" [ "not" ] "defined" ]
//	filter   := postfix { "|" "default" "(" expr ")" }
//	postfix  := primary { "." name | "[" string "]" }
//	primary  := name | string | "(" expr ")"

// jval is a Jinja value: undefined, or a decoded JSON value (nil, bool,
// json.Number, string, []any, map[string]any), or a Python method
// reached through an attribute (pyMethod).
type jval struct {
	undef bool
	name  string // what was undefined, for messages
	v     any
}

type pyMethod string

// renderResult is what rendering gave: the text, or a template error, and
// the warnings HA would have logged.
type renderResult struct {
	out      string
	err      error
	warnings []string
}

func (r renderResult) String() string {
	switch {
	case r.err != nil:
		return "ERROR " + r.err.Error()
	case len(r.warnings) > 0:
		return fmt.Sprintf("%q WARNING %s", r.out, strings.Join(r.warnings, "; "))
	}
	return strconv.Quote(r.out)
}

// render evaluates tpl against payload as Home Assistant would.
func render(tpl, payload string) (renderResult, error) {
	n, err := parseTemplate(tpl)
	if err != nil {
		return renderResult{}, err
	}
	ev := &evaluator{vars: map[string]jval{"value": {v: payload}}}
	if v, ok := parseJSON(payload); ok {
		ev.vars["value_json"] = jval{v: v}
	}
	var res renderResult
	func() {
		defer func() {
			if r := recover(); r != nil {
				ue, ok := r.(undefinedError)
				if !ok {
					panic(r)
				}
				res.err = ue
			}
		}()
		v := ev.eval(n)
		res.out = strings.TrimSpace(ev.str(v))
	}()
	res.warnings = ev.warnings
	return res, nil
}

// parseJSON decodes like HA's json_loads: one JSON value, surrounding
// whitespace allowed, numbers kept as written.
func parseJSON(s string) (any, bool) {
	if !json.Valid([]byte(s)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

type undefinedError struct{ msg string }

func (e undefinedError) Error() string { return "UndefinedError: " + e.msg }

// ---- evaluation -----------------------------------------------------------

type evaluator struct {
	vars     map[string]jval
	warnings []string
}

func (e *evaluator) eval(n *node) jval {
	switch n.kind {
	case "name":
		if v, ok := e.vars[n.s]; ok {
			return v
		}
		return jval{undef: true, name: "'" + n.s + "' is undefined"}
	case "str":
		return jval{v: n.s}
	case "attr":
		return e.getattr(e.eval(n.kids[0]), n.s)
	case "item":
		return e.getitem(e.eval(n.kids[0]), n.s)
	case "defined", "notdefined":
		d := !e.eval(n.kids[0]).undef
		return jval{v: d == (n.kind == "defined")}
	case "default":
		if v := e.eval(n.kids[0]); !v.undef {
			return v
		}
		return e.eval(n.kids[1])
	case "not":
		return jval{v: !e.truth(e.eval(n.kids[0]))}
	case "and":
		l := e.eval(n.kids[0])
		if !e.truth(l) {
			return l
		}
		return e.eval(n.kids[1])
	case "or":
		l := e.eval(n.kids[0])
		if e.truth(l) {
			return l
		}
		return e.eval(n.kids[1])
	case "cond":
		if e.truth(e.eval(n.kids[0])) {
			return e.eval(n.kids[1])
		}
		return e.eval(n.kids[2])
	}
	panic("unknown node " + n.kind)
}

// Python attributes of the types JSON decodes to (Python 3.12), which
// Jinja's getattr finds before dictionary keys.
var pyAttrs = map[string][]string{
	"dict":  {"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values"},
	"list":  {"append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"},
	"str":   {"capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"},
	"int":   {"as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator", "from_bytes", "imag", "is_integer", "numerator", "real", "to_bytes"},
	"float": {"as_integer_ratio", "conjugate", "fromhex", "hex", "imag", "is_integer", "real"},
}

func pyType(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "dict"
	case []any:
		return "list"
	case string:
		return "str"
	case bool:
		return "int" // bool subclasses int
	case json.Number:
		if isFloatLiteral(x.String()) {
			return "float"
		}
		return "int"
	}
	return "none"
}

func (e *evaluator) pyAttr(v any, name string) (jval, bool) {
	if slices.Contains(pyAttrs[pyType(v)], name) {
		return jval{v: pyMethod(pyType(v) + "." + name)}, true
	}
	return jval{}, false
}

func (e *evaluator) getattr(obj jval, name string) jval {
	if obj.undef {
		panic(undefinedError{obj.name})
	}
	if v, ok := e.pyAttr(obj.v, name); ok {
		return v
	}
	if m, ok := obj.v.(map[string]any); ok {
		if v, ok := m[name]; ok {
			return jval{v: v}
		}
	}
	return jval{undef: true, name: fmt.Sprintf("%s has no attribute '%s'", objectTypeRepr(obj.v), name)}
}

func (e *evaluator) getitem(obj jval, key string) jval {
	if obj.undef {
		panic(undefinedError{obj.name})
	}
	if m, ok := obj.v.(map[string]any); ok {
		if v, ok := m[key]; ok {
			return jval{v: v}
		}
	}
	if v, ok := e.pyAttr(obj.v, key); ok {
		return v
	}
	return jval{undef: true, name: fmt.Sprintf("%s has no attribute '%s'", objectTypeRepr(obj.v), key)}
}

// objectTypeRepr names a value's type as Jinja's messages do.
func objectTypeRepr(v any) string {
	switch v.(type) {
	case nil:
		return "'None'"
	case bool:
		return "'bool object'"
	case pyMethod:
		return "'builtin_function_or_method object'"
	}
	return "'" + pyType(v) + " object'"
}

func (e *evaluator) truth(v jval) bool {
	if v.undef {
		e.warnings = append(e.warnings, v.name)
		return false
	}
	switch x := v.v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case json.Number:
		f, _ := strconv.ParseFloat(x.String(), 64)
		return f != 0
	}
	return true
}

func (e *evaluator) str(v jval) string {
	if v.undef {
		e.warnings = append(e.warnings, v.name)
		return ""
	}
	if s, ok := v.v.(string); ok {
		return s
	}
	return pyRepr(v.v)
}

// pyRepr is Python's repr of a decoded JSON value.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
	case json.Number:
		return pyNumber(x.String())
	case []any:
		parts := make([]string, len(x))
		for i, el := range x {
			parts[i] = pyRepr(el)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // Python keeps insertion order; only the golden file's readability depends on it
		var b bytes.Buffer
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(k) + ": " + pyRepr(x[k]))
		}
		b.WriteByte('}')
		return b.String()
	case pyMethod:
		return "<built-in method " + string(x) + ">"
	}
	panic(fmt.Sprintf("unexpected value %T", v))
}

func isFloatLiteral(s string) bool { return strings.ContainsAny(s, ".eE") }

// pyNumber is Python's str of a JSON number literal: integers exactly,
// floats as the shortest repr, in positional notation for exponents -4 to
// 15 and scientific otherwise.
func pyNumber(lit string) string {
	if !isFloatLiteral(lit) {
		n, ok := new(big.Int).SetString(lit, 10)
		if !ok {
			panic("bad integer " + lit)
		}
		return n.String()
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return "inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
