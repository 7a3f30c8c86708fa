package main

import "testing"

// The demo serves the operations endpoint and prints the health command
// that checks it, which then succeeds (`kasa2mqtt health` against the demo
// was refused: it had no endpoint).
func TestDemoHealthCommand(t *testing.T) {
	_, out, _ := startDemo(t)
	url := waitMatch(t, out, `\(check it: kasa2mqtt health -url (\S+)\)`)
	if code, o, e := runCLI(t, "", "health", "-url", url); code != exitOK {
		t.Fatalf("health -url %s: exit %d\n%s%s", url, code, o, e)
	}
}
