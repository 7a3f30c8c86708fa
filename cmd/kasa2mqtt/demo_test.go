package main

import (
	"regexp"
	"testing"
)

// The demo serves the operations endpoint and prints the health command
// that checks it, which then succeeds (`kasa2mqtt health` against the demo
// was refused: it had no endpoint).
func TestDemoHealthCommand(t *testing.T) {
	_, out, _ := startDemo(t)
	re := regexp.MustCompile(`\(check it: kasa2mqtt health -url (\S+)\)`)
	var url string
	waitOut(t, out, func(s string) bool {
		m := re.FindStringSubmatch(s)
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	if code, o, e := runCLI(t, "", "health", "-url", url); code != exitOK {
		t.Fatalf("health -url %s: exit %d\n%s%s", url, code, o, e)
	}
}
