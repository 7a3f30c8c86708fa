package jsonv

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFloat(t *testing.T) {
	tests := []struct {
		raw       string
		want      float64
		ok        bool
		nonFinite bool
	}{
		{`12.5`, 12.5, true, false},
		{` "12.5" `, 12.5, true, false},
		{`" 3 "`, 3, true, false},
		{`-0.25`, -0.25, true, false},
		{`1e308`, 1e308, true, false},
		{`"NaN"`, 0, false, true},
		{`"nan"`, 0, false, true},
		{`"Inf"`, 0, false, true},
		{`"-Infinity"`, 0, false, true},
		{`"+inf"`, 0, false, true},
		{`1e999`, 0, false, false},
		{`"1e999"`, 0, false, false},
		{`null`, 0, false, false},
		{``, 0, false, false},
		{`true`, 0, false, false},
		{`"abc"`, 0, false, false},
		{`[1]`, 0, false, false},
		{`{"a":1}`, 0, false, false},
		{`"12`, 0, false, false},
	}
	for _, tc := range tests {
		got, ok := Float([]byte(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Float(%s) = %v, %v; want %v, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
		if nf := NonFinite([]byte(tc.raw)); nf != tc.nonFinite {
			t.Errorf("NonFinite(%s) = %v, want %v", tc.raw, nf, tc.nonFinite)
		}
	}
}

func TestIntegers(t *testing.T) {
	tests := []struct {
		raw   string
		i64   int64
		ok64  bool
		i32ok bool
	}{
		{`42`, 42, true, true},
		{`"-20651"`, -20651, true, true},
		{`3.0`, 3, true, true},
		{`3.5`, 0, false, false},
		{`9007199254740992`, 1 << 53, true, false},
		{`9007199254740994`, 0, false, false},
		{`2147483648`, 2147483648, true, false},
		{`-2147483648`, -2147483648, true, true},
		{`"Inf"`, 0, false, false},
		{`"NaN"`, 0, false, false},
		{`1e3`, 1000, true, true},
		{`1e20`, 0, false, false},
		{`"x"`, 0, false, false},
		{`true`, 0, false, false},
		{`null`, 0, false, false},
	}
	for _, tc := range tests {
		n, ok := Int64([]byte(tc.raw))
		if n != tc.i64 || ok != tc.ok64 {
			t.Errorf("Int64(%s) = %v, %v; want %v, %v", tc.raw, n, ok, tc.i64, tc.ok64)
		}
		i, ok := Int([]byte(tc.raw))
		if ok != tc.i32ok || (ok && int64(i) != tc.i64) {
			t.Errorf("Int(%s) = %v, %v; want ok %v", tc.raw, i, ok, tc.i32ok)
		}
	}
}

func TestFlags(t *testing.T) {
	bits := map[string][2]bool{ // raw -> {value, ok}
		`1`: {true, true}, `0`: {false, true}, `"1"`: {true, true}, `1.0`: {true, true},
		`2`: {false, false}, `true`: {false, false}, `-1`: {false, false}, `null`: {false, false},
	}
	for raw, want := range bits {
		if v, ok := Bit([]byte(raw)); v != want[0] || ok != want[1] {
			t.Errorf("Bit(%s) = %v, %v; want %v", raw, v, ok, want)
		}
	}
	bools := map[string][2]bool{
		`true`: {true, true}, ` false `: {false, true}, `"true"`: {true, true}, `"false"`: {false, true},
		`1`: {false, false}, `"TRUE"`: {false, false}, `null`: {false, false}, ``: {false, false},
	}
	for raw, want := range bools {
		if v, ok := Bool([]byte(raw)); v != want[0] || ok != want[1] {
			t.Errorf("Bool(%s) = %v, %v; want %v", raw, v, ok, want)
		}
	}
}

func TestContainers(t *testing.T) {
	if m, ok := Object([]byte(` {"a":1,"b":"x"} `)); !ok || len(m) != 2 || string(m["a"]) != "1" {
		t.Errorf("Object = %v, %v", m, ok)
	}
	for _, raw := range []string{`null`, `[]`, `"{}"`, `{"a":`, ``, `{} x`} {
		if _, ok := Object([]byte(raw)); ok {
			t.Errorf("Object(%s) ok", raw)
		}
	}
	if a, ok := Array([]byte(`[1,"x",{}]`)); !ok || len(a) != 3 {
		t.Errorf("Array = %v, %v", a, ok)
	}
	for _, raw := range []string{`null`, `{}`, `[1,`, ``} {
		if _, ok := Array([]byte(raw)); ok {
			t.Errorf("Array(%s) ok", raw)
		}
	}
	if s, ok := String([]byte(` "a\"b\u00fc" `)); !ok || s != `a"bü` {
		t.Errorf("String = %q, %v", s, ok)
	}
	for _, raw := range []string{`1`, `null`, `"x`, ``} {
		if _, ok := String([]byte(raw)); ok {
			t.Errorf("String(%s) ok", raw)
		}
	}
}

// FuzzValues checks the one rule on any input: no helper panics, Float and
// the integer helpers never return a non-finite number, the integers are
// in their ranges, and what NonFinite calls non-finite Float refuses.
func FuzzValues(f *testing.F) {
	for _, s := range []string{`12.5`, `"NaN"`, `"-Inf"`, `1e999`, `"1e999"`, `null`, `"x"`, `{"a":[1]}`, `[1,2]`,
		`"true"`, `3.0`, `9007199254740993`, `-0`, `"0x10"`, `" 1 "`, "\"\xff\"", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if v, ok := Float(raw); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("Float(%q) = %v", raw, v)
		}
		if NonFinite(raw) {
			if _, ok := Float(raw); ok {
				t.Fatalf("Float(%q) accepted a non-finite value", raw)
			}
		}
		if n, ok := Int64(raw); ok && (n > 1<<53 || n < -(1<<53)) {
			t.Fatalf("Int64(%q) = %d", raw, n)
		}
		if n, ok := Int(raw); ok && (n > math.MaxInt32 || n < math.MinInt32) {
			t.Fatalf("Int(%q) = %d", raw, n)
		}
		Bit(raw)
		Bool(raw)
		String(raw)
		if m, ok := Object(raw); ok && m == nil {
			t.Fatalf("Object(%q) ok with nil map", raw)
		}
		if a, ok := Array(raw); ok {
			for _, el := range a {
				if !json.Valid(el) {
					t.Fatalf("Array(%q) element %q is not JSON", raw, el)
				}
			}
		}
	})
}
