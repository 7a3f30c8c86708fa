package test

import (
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/tuya"
)

// TestE2E_LoginNeededSaysWhatToRun: a Kasa account with neither a password
// nor a stored token cannot log in by itself. bridge/info, the
// account_error event and the log say which command logs it in (the
// provider's own error names none: the daemon words that advice), and
// nothing is sent to the cloud. The log has that one line about it above
// debug level: the provider's own line is at debug.
func TestE2E_LoginNeededSaysWhatToRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	h.addFleet()
	h.kasaSettings(0).Password = ""
	h.start()

	const advice = "run `kasa2mqtt login -account home`"
	info := h.waitAccountStatus(0, map[string]string{"home": "auth_error"})
	if !strings.Contains(info, "no password configured and no stored token") || !strings.Contains(info, advice) {
		t.Errorf("bridge/info does not say why and what to run:\n%s", info)
	}
	h.rec.waitMsg(0, base+"/bridge/event", func(p string) bool {
		return strings.Contains(p, `"type":"account_error"`) && strings.Contains(p, advice)
	})
	eventually(t, "a log line saying what to run", func() bool {
		return h.logged(zapcore.ErrorLevel, "cloud account error", advice)
	})
	checkOneLoginNeededLine(t, h, "login needed", "kasa login needed: no password configured and no stored token")
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d calls reached the cloud without credentials", n)
	}
}

// TestE2E_TuyaAuthorizationNeededSaysWhatToRun: a Tuya account in code
// mode without stored tokens waits for a person to authorise it. The log
// has one line about it above debug level, the bridge's with the command
// to run (the provider's own line, with its reason, is at debug), and no
// call reaches the cloud.
func TestE2E_TuyaAuthorizationNeededSaysWhatToRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "mochi")
	f := h.addTuya()
	h.tuyaSettings(1).Auth = tuya.AuthCode
	h.start()

	const advice = "run `kasa2mqtt tuya-authorize -account garden`"
	info := h.waitAccountStatus(0, map[string]string{"garden": "auth_error"})
	if !strings.Contains(info, "authorization needed (no tokens are stored)") || !strings.Contains(info, advice) {
		t.Errorf("bridge/info does not say why and what to run:\n%s", info)
	}
	eventually(t, "a log line saying what to run", func() bool {
		return h.logged(zapcore.ErrorLevel, "cloud account error", advice)
	})
	checkOneLoginNeededLine(t, h, "authorization needed", "tuya authorization needed: no tokens are stored")
	if n := f.srv.Calls(""); n != 0 {
		t.Errorf("%d calls reached the cloud without tokens", n)
	}
}

// checkOneLoginNeededLine checks that the log has one line holding what
// (a login or an authorization needed) above debug level, the bridge's
// with the advice, and the provider's own line (its reason) at debug
// level.
func checkOneLoginNeededLine(t *testing.T, h *harness, what, providerLine string) {
	t.Helper()
	if n := h.countLogs(zapcore.WarnLevel, what); n != 1 {
		t.Errorf("%d log lines about the %s at warn or error, want 1 (the advised one)", n, what)
	}
	own := h.logs.FilterMessage(providerLine).All()
	if len(own) == 0 {
		t.Errorf("the provider's line %q is gone", providerLine)
	}
	for _, e := range own {
		if e.Level != zapcore.DebugLevel {
			t.Errorf("the provider's line %q at %v, want debug", providerLine, e.Level)
		}
	}
}
