package apierr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestMeanings(t *testing.T) {
	m := Meanings{-20651: "token expired"}
	if got := m.Of(-20651); got != "token expired" {
		t.Errorf("Of(-20651) = %q", got)
	}
	if got := m.Of(7); got != UnknownCode {
		t.Errorf("Of(7) = %q", got)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		op, source      string
		code            int
		meaning, msg, h string
		want            string
	}{
		{"passthrough", "cloud", -20571, "device is offline", "Device is offline", "",
			`passthrough: cloud error -20571 (device is offline)`},
		{"login", "cloud", -20601, "wrong password", "Incorrect email or password", "",
			`login: cloud error -20601 (wrong password): "Incorrect email or password"`},
		{"GET /v1.0/token", "tuya", 1106, "permission denied", "", "check the data centre",
			`GET /v1.0/token: tuya error 1106 (permission denied); check the data centre`},
	}
	for _, tc := range tests {
		if got := Message(tc.op, tc.source, tc.code, tc.meaning, tc.msg, tc.h); got != tc.want {
			t.Errorf("Message = %q, want %q", got, tc.want)
		}
	}
	long := Message("x", "cloud", 1, "m", strings.Repeat("é", 300), "")
	if !strings.HasSuffix(long, `…"`) || len(long) > 260 {
		t.Errorf("long message not cut: %d bytes", len(long))
	}
}

type codedErr struct{ code int }

func (e *codedErr) Error() string { return fmt.Sprint("code ", e.code) }

func TestCodeOf(t *testing.T) {
	get := func(e *codedErr) int { return e.code }
	if code, ok := CodeOf(fmt.Errorf("op: %w", &codedErr{-20651}), get); !ok || code != -20651 {
		t.Errorf("CodeOf(wrapped) = %d, %v", code, ok)
	}
	if _, ok := CodeOf(errors.New("plain"), get); ok {
		t.Error("CodeOf(plain error) ok")
	}
	if _, ok := CodeOf(nil, get); ok {
		t.Error("CodeOf(nil) ok")
	}
}
