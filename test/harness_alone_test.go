package test

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// aloneEnv names the one test a child process of the suite runs (see alone).
const aloneEnv = "KASA2MQTT_TEST_ALONE"

// alone runs the calling top-level test by itself in a child process — this
// test binary re-executed with -test.run for that test alone — in parallel
// with the rest of the suite. It returns true in the child, where the test
// goes on; in the parent it streams the child's output into the test's log,
// fails the test when the child fails, and returns false.
//
// It is for tests that measure the whole process (the heap, the number of
// goroutines), which other tests running alongside would disturb, and for
// tests that change the environment (t.Setenv cannot be used in a parallel
// test); env is added to the child's environment. Coverage counted in the
// child is merged into the run's (-test.gocoverdir is passed on).
func alone(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(aloneEnv) == t.Name() {
		return true
	}
	t.Parallel()
	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v=true"}
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "test.timeout", "test.gocoverdir", "test.short", "soak":
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	cmd := childCommand(args...)
	cmd.Env = append(append(os.Environ(), aloneEnv+"="+t.Name()), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the child process for %s: %v", t.Name(), err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		// The child's own framing says nothing the parent does not.
		if strings.HasPrefix(line, "=== RUN") || line == "PASS" || line == "FAIL" || strings.HasPrefix(line, "coverage: ") {
			continue
		}
		t.Log(line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s failed in its child process: %v", t.Name(), err)
	}
	return false
}

// childCommand runs this test binary again with args; the child is killed
// when the test process dies.
func childCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
