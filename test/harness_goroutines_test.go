package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
)

// Goroutine leaks are checked per test although tests run in parallel: the
// harness labels the test's goroutine (a pprof label, which every goroutine
// started from it inherits: the daemon's, the fakes', the brokers'
// readers) and, after the test's last cleanup, looks for labelled
// goroutines still running kasa2mqtt code. TestMain checks the whole
// process once more after the last test, for goroutines that carry no
// label (started by a timer).

const goroutineLabel = "kasa2mqtt_test"

var labelSeq atomic.Int64

// labelGoroutines labels the calling goroutine (the test's) and every
// goroutine it starts from now on with a new id, and returns it.
func labelGoroutines() string {
	id := strconv.FormatInt(labelSeq.Add(1), 10)
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(goroutineLabel, id)))
	return id
}

// checkGoroutines labels t's goroutines (labelGoroutines) and fails t when
// goroutines of this module with its label are still running after every
// cleanup of the test ran (a leak). Call it before anything that starts
// goroutines.
func checkGoroutines(t *testing.T) {
	id := labelGoroutines()
	t.Cleanup(func() {
		if leaked := waitNoGoroutines(id, 5*time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutine(s) of kasa2mqtt still running after the test:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// waitNoGoroutines waits up to d for ourGoroutines(id) to be empty and
// returns what is left.
func waitNoGoroutines(id string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		_, leaked := ourGoroutines(id)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ourPackages are the packages whose goroutines must all end with the
// daemon.
var ourPackages = []string{"kasa2mqtt/bridge.", "kasa2mqtt/internal/daemon.", "kasa2mqtt/cloud/kasa.", "kasa2mqtt/cloud/tuya."}

// ourGoroutines returns how many goroutines run code of ourPackages, and
// their stacks (grouped: identical stacks once, with their count), those
// with label id only unless id is "". The test goroutines themselves are
// not counted.
func ourGoroutines(id string) (int, []string) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		panic(err)
	}
	want := `"` + goroutineLabel + `":"` + id + `"`
	n := 0
	var stacks []string
	// Records are separated by blank lines: "<count> @ <pcs>", an optional
	// "# labels: {...}", then one "#\t<pc>\t<func>\t<file:line>" per frame.
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		head, _, _ := strings.Cut(rec, " @ ")
		count, err := strconv.Atoi(strings.TrimSpace(head[strings.LastIndexByte(head, '\n')+1:]))
		if err != nil {
			continue
		}
		if id != "" && !strings.Contains(rec, want) {
			continue
		}
		if strings.Contains(rec, "testing.tRunner") || strings.Contains(rec, "ourGoroutines") {
			continue
		}
		for _, pkg := range ourPackages {
			if strings.Contains(rec, pkg) {
				n += count
				stacks = append(stacks, fmt.Sprintf("%d goroutine(s):\n%s", count, rec))
				break
			}
		}
	}
	return n, stacks
}

// checkNoGoroutinesLeft is TestMain's last check: no goroutine of this
// module may outlive the tests, labelled or not. It returns the exit code.
func checkNoGoroutinesLeft(code int) int {
	if code != 0 {
		return code
	}
	if leaked := waitNoGoroutines("", 5*time.Second); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "goroutines of kasa2mqtt still running after every test:\n%s\n", strings.Join(leaked, "\n\n"))
		return 1
	}
	return 0
}

// TestLeakCheckSeesTheTestsOwnGoroutines shows that the per-test leak
// check can fail: a provider call hanging in a goroutine the test started
// counts as the test's (its label is inherited), not as another test's,
// and no longer once it returned.
func TestLeakCheckSeesTheTestsOwnGoroutines(t *testing.T) {
	t.Parallel()
	id := labelGoroutines()
	fake := kasatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddAccount(user, password)
	p, err := kasa.New(kasa.Options{Account: "home", Username: user, Password: password, URL: fake.URL(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	fake.Hang(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.ListDevices(ctx)
	}()
	eventually(t, "the hung call counted as this test's goroutine", func() bool {
		n, _ := ourGoroutines(id)
		return n > 0
	})
	if n, stacks := ourGoroutines("no-such-test"); n != 0 {
		t.Errorf("goroutines counted for a label no test has: %v", stacks)
	}
	cancel()
	<-done
	if left := waitNoGoroutines(id, waitFor); len(left) > 0 {
		t.Errorf("the finished call still counted: %v", left)
	}
}
