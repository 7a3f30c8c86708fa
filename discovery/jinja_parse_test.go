package discovery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The parser of the Jinja subset jinja_test.go evaluates (grammar there).

// ---- parser -------------------------------------------------------------

type node struct {
	kind string // name, str, attr, item, default, defined, notdefined, not, and, or, cond
	s    string
	kids []*node
}

type parser struct {
	toks []string
	pos  int
}

func parseTemplate(tpl string) (*node, error) {
	body, ok := strings.CutPrefix(tpl, "{{")
	if !ok {
		return nil, fmt.Errorf("template %q does not start with {{", tpl)
	}
	body, ok = strings.CutSuffix(body, "}}")
	if !ok || strings.Contains(body, "{{") || strings.Contains(body, "}}") || strings.Contains(body, "{%") {
		return nil, fmt.Errorf("template %q is not a single {{ expression }}", tpl)
	}
	toks, err := tokenize(body)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", tpl, err)
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err == nil && p.pos != len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", tpl, err)
	}
	return n, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.IndexByte(".[]()|", c) >= 0:
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated string")
			}
			if strings.ContainsRune(s[i+1:i+1+j], '\\') {
				return nil, errors.New("escapes in strings are outside the subset")
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("character %q is outside the subset", c)
		}
	}
	return toks, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) take(want string) error {
	if p.peek() != want {
		return fmt.Errorf("want %q, got %q", want, p.peek())
	}
	p.pos++
	return nil
}

func (p *parser) expr() (*node, error) {
	n, err := p.or()
	if err != nil || p.peek() != "if" {
		return n, err
	}
	p.pos++
	cond, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.take("else"); err != nil {
		return nil, err
	}
	alt, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &node{kind: "cond", kids: []*node{cond, n, alt}}, nil
}

func (p *parser) binary(kind string, next func() (*node, error)) (*node, error) {
	n, err := next()
	for err == nil && p.peek() == kind {
		p.pos++
		var r *node
		r, err = next()
		n = &node{kind: kind, kids: []*node{n, r}}
	}
	return n, err
}

func (p *parser) or() (*node, error)  { return p.binary("or", p.and) }
func (p *parser) and() (*node, error) { return p.binary("and", p.not) }

func (p *parser) not() (*node, error) {
	if p.peek() == "not" {
		p.pos++
		n, err := p.not()
		return &node{kind: "not", kids: []*node{n}}, err
	}
	return p.test()
}

func (p *parser) test() (*node, error) {
	n, err := p.filter()
	if err != nil || p.peek() != "is" {
		return n, err
	}
	p.pos++
	kind := "defined"
	if p.peek() == "not" {
		p.pos++
		kind = "notdefined"
	}
	if err := p.take("defined"); err != nil {
		return nil, fmt.Errorf("only the 'defined' test is in the subset: %w", err)
	}
	return &node{kind: kind, kids: []*node{n}}, nil
}

func (p *parser) filter() (*node, error) {
	n, err := p.postfix()
	for err == nil && p.peek() == "|" {
		p.pos++
		if err = p.take("default"); err != nil {
			return nil, fmt.Errorf("only the default filter is in the subset: %w", err)
		}
		if err = p.take("("); err != nil {
			return nil, err
		}
		var arg *node
		if arg, err = p.expr(); err != nil {
			return nil, err
		}
		err = p.take(")")
		n = &node{kind: "default", kids: []*node{n, arg}}
	}
	return n, err
}

func (p *parser) postfix() (*node, error) {
	n, err := p.primary()
	for err == nil {
		switch p.peek() {
		case ".":
			p.pos++
			name := p.peek()
			if !isName(name) {
				return nil, fmt.Errorf("want a name after '.', got %q", name)
			}
			p.pos++
			n = &node{kind: "attr", s: name, kids: []*node{n}}
		case "[":
			p.pos++
			key := p.peek()
			if !strings.HasPrefix(key, "'") {
				return nil, fmt.Errorf("only string subscripts are in the subset, got %q", key)
			}
			p.pos++
			if err = p.take("]"); err != nil {
				return nil, err
			}
			n = &node{kind: "item", s: key[1 : len(key)-1], kids: []*node{n}}
		default:
			return n, nil
		}
	}
	return n, err
}

func (p *parser) primary() (*node, error) {
	t := p.peek()
	switch {
	case t == "(":
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		return n, p.take(")")
	case strings.HasPrefix(t, "'"):
		p.pos++
		return &node{kind: "str", s: t[1 : len(t)-1]}, nil
	case isName(t) && !slices.Contains([]string{"if", "else", "and", "or", "not", "is"}, t):
		p.pos++
		return &node{kind: "name", s: t}, nil
	}
	return nil, fmt.Errorf("unexpected %q", t)
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
