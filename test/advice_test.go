package test

import (
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// TestE2E_LoginNeededSaysWhatToRun: a Kasa account with neither a password
// nor a stored token cannot log in by itself. bridge/info, the
// account_error event and the log say which command logs it in (the
// provider's own error names none: the daemon words that advice), and
// nothing is sent to the cloud.
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
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d calls reached the cloud without credentials", n)
	}
}
