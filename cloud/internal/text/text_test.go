package text

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	tests := map[string]string{
		"  Living Room  ":        "Living Room",
		"Lamp\x00\x1b[31m":       "Lamp[31m",
		"Küche\u200b Süd":        "Küche Süd",
		"bad\xffbyte":            "bad\uFFFDbyte",
		"\t\n":                   "",
		"客厅 🔌":                   "客厅 🔌",
		"a\u202eb":               "ab", // right-to-left override is a format character
		"line1\nline2":           "line1line2",
		strings.Repeat(" ", 300): "",
	}
	for in, want := range tests {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, s := range []string{"8006ABCD", "a/b", "x+y#z", "~!", strings.Repeat("a", 128)} {
		if !IsToken(s, 128) {
			t.Errorf("IsToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a b", "a\tb", "ü", "a\x7f", strings.Repeat("a", 129)} {
		if IsToken(s, 128) {
			t.Errorf("IsToken(%q) = true", s)
		}
	}
}

func TestIsSegment(t *testing.T) {
	if !IsSegment("bf01_switch-2", 64, "_-") || !IsSegment("a.b", 8, "._-") {
		t.Error("valid segments refused")
	}
	for _, s := range []string{"", "a.b", "a/b", "a b", "a%2F", "ü", strings.Repeat("a", 65)} {
		if IsSegment(s, 64, "_-") {
			t.Errorf("IsSegment(%q) = true", s)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("abcdef", 3); got != "abc…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("aü", 2); got != "a…" { // ü is 2 bytes: cut inside it
		t.Errorf("Truncate = %q", got)
	}
}

// FuzzPrintable: the result is valid UTF-8, trimmed, without control or
// format characters, and cleaning it again changes nothing.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"Lamp", " a\x00b ", "\xff\xfe", "a\u202eb", "客厅", "\u00a0x\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if !utf8.ValidString(p) || strings.TrimSpace(p) != p || Printable(p) != p {
			t.Fatalf("Printable(%q) = %q", s, p)
		}
		for _, r := range p {
			if r != ' ' && !unicode.IsPrint(r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, p, r)
			}
		}
		if IsToken(s, 1<<20) && p != s {
			t.Fatalf("a token %q is changed by Printable to %q", s, p)
		}
		if IsSegment(s, 1<<20, "._-") && !IsToken(s, 1<<20) {
			t.Fatalf("segment %q is not a token", s)
		}
	})
}
