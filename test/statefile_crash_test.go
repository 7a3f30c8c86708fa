package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/kasa/kasatest"
	"github.com/kasa2mqtt/kasa2mqtt/internal/statefile"
)

// The state directory survives kill -9 at any moment: a child process (this
// test binary re-executed) writes state files in a tight loop through the
// real code paths — the Kasa token store (kasa.Provider.Login against a
// fake cloud in the parent), cloud.EnergyMeter.Flush and statefile.WriteJSON
// with a large payload — and is killed at random moments. After every kill
// each file must parse, hold a generation at least as new as the last one
// the child reported done (and at most one newer), keep mode 0600, and the
// terminal UUID and energy total must carry over into the next child.

const (
	// stateChildEnv makes the test binary run the writer loop in dir.
	stateChildEnv = "KASA2MQTT_TEST_STATE_CHILD"
	// stateChildURLEnv is the fake cloud's URL for the child.
	stateChildURLEnv = "KASA2MQTT_TEST_STATE_CHILD_URL"
	// stateChildOnceEnv makes the child do one round of writes and exit.
	stateChildOnceEnv = "KASA2MQTT_TEST_STATE_CHILD_ONCE"

	crashKills  = 50
	energyKey   = "kasa/crash-test-plug"
	genericFile = "generic.json"
	tokenFile   = "kasa-home.json"
	energyFile  = "energy.json"
)

// genericState is the big file: Fill repeats a letter derived from Gen, so
// a file mixing two generations or cut short does not verify.
type genericState struct {
	Gen  int    `json:"gen"`
	Fill string `json:"fill"`
}

func genericFill(gen int) string {
	return strings.Repeat(string(rune('a'+gen%26)), 64<<10+gen%4096)
}

func TestStateFilesSurviveKill9(t *testing.T) {
	if dir := os.Getenv(stateChildEnv); dir != "" {
		stateWriterChild(t, dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	fake := kasatest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddAccount(user, password)

	// One clean round first, so that every file exists before the kills.
	first := startStateChild(t, dir, fake.URL(), true)
	init := first.waitReady(t)
	if err := first.cmd.Wait(); err != nil {
		t.Fatalf("first writer round: %v\n%s", err, first.stderr.String())
	}
	var (
		firstUUID   = init.uuid
		lastGen     = -1
		lastEnergy  = -1.0
		lastTokenAt = -1
		leftovers   int
		started     = time.Now()
		rng         = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	)
	for kill := 1; kill <= crashKills; kill++ {
		c := startStateChild(t, dir, fake.URL(), false)
		ready := c.waitReady(t)
		// The new child loaded what the killed one left behind.
		if ready.uuid != firstUUID {
			t.Fatalf("kill %d: the terminal UUID changed from %s to %s", kill, firstUUID, ready.uuid)
		}
		if lastEnergy >= 0 && (ready.energy != lastEnergy || ready.gen != lastGen) {
			t.Fatalf("kill %d: the child loaded energy total %v and generation %d, the files held %v and %d",
				kill, ready.energy, ready.gen, lastEnergy, lastGen)
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		done := c.kill(t)

		// generic.json
		var g genericState
		mustReadState(t, filepath.Join(dir, genericFile), &g)
		if g.Fill != genericFill(g.Gen) {
			t.Fatalf("kill %d: %s generation %d does not verify (torn or mixed write)", kill, genericFile, g.Gen)
		}
		if g.Gen < done.gen || g.Gen > done.gen+1 || g.Gen < lastGen {
			t.Fatalf("kill %d: %s holds generation %d; the child finished %d (previous kill: %d)", kill, genericFile, g.Gen, done.gen, lastGen)
		}
		lastGen = g.Gen

		// energy.json: integral, never lower than reported, at most one ahead.
		var e map[string]struct {
			Total float64 `json:"total_kwh"`
		}
		mustReadState(t, filepath.Join(dir, energyFile), &e)
		total := e[energyKey].Total
		if total != math.Trunc(total) || total < done.energy || total > done.energy+1 || total < lastEnergy {
			t.Fatalf("kill %d: energy total %v; the child flushed %v (previous kill: %v)", kill, total, done.energy, lastEnergy)
		}
		lastEnergy = total

		// kasa-home.json: the same terminal UUID, and the token pair of the
		// newest login or (killed before it was stored) of the one before.
		var tok struct {
			Username     string `json:"username"`
			TerminalUUID string `json:"terminal_uuid"`
			Token        string `json:"token"`
			RefreshToken string `json:"refresh_token"`
		}
		mustReadState(t, filepath.Join(dir, tokenFile), &tok)
		if tok.TerminalUUID != firstUUID || tok.Username != user {
			t.Fatalf("kill %d: token file holds terminal %q user %q, want %q %q", kill, tok.TerminalUUID, tok.Username, firstUUID, user)
		}
		// The fake's secrets sort in issue order; a login issues a token,
		// then a refresh token. The file holds the pair of one finished
		// login, never an older one than after the previous kill. A child
		// that reported a login stored it, so the file is then at most one
		// login behind (killed during the next). A child that reported none
		// may have been killed during its first login, after the cloud
		// issued the pair and before it was stored: the file then still
		// holds what the earlier children left, however many kills ago.
		issued := fake.Secrets()
		n := len(issued)
		at := -1
		for i := 0; i+1 < n; i++ {
			if tok.Token == issued[i] && tok.RefreshToken == issued[i+1] {
				at = i
			}
		}
		if at < 0 || at < lastTokenAt || (done.logins > 0 && at < n-4) {
			t.Fatalf("kill %d: the token file holds the pair at %d of %d issued secrets (previous kill: %d, %d logins reported): not the newest finished login",
				kill, at, n, lastTokenAt, done.logins)
		}
		lastTokenAt = at

		// Nothing else: the three files and temporary files of interrupted
		// writes, all private.
		leftovers = checkStateDir(t, dir, kill)
	}
	t.Logf("%d kills in %v: every file parsed and held a finished (or the in-flight) generation; last generation %d, energy %v kWh, %d temporary files left",
		crashKills, time.Since(started).Round(time.Millisecond), lastGen, lastEnergy, leftovers)

	// A later start cleans the leftovers once they are stale: age them and
	// run one more round of writes.
	entries, _ := os.ReadDir(dir)
	old := time.Now().Add(-2 * statefile.StaleTemp)
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp-") {
			if err := os.Chtimes(filepath.Join(dir, en.Name()), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := startStateChild(t, dir, fake.URL(), true)
	if ready := c.waitReady(t); ready.uuid != firstUUID {
		t.Fatalf("after the kills: terminal UUID %s, want %s", ready.uuid, firstUUID)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("final writer round: %v\n%s", err, c.stderr.String())
	}
	if n := checkStateDir(t, dir, 0); n != 0 {
		t.Errorf("%d temporary files of interrupted writes survive the next write of their file", n)
	}
}

// tempName matches the temporary file of an interrupted statefile write.
var tempName = regexp.MustCompile(`^\.(` + regexp.QuoteMeta(genericFile) + `|` + regexp.QuoteMeta(energyFile) + `|` + regexp.QuoteMeta(tokenFile) + `)\.tmp-[0-9]+$`)

// checkStateDir checks names and modes in dir and returns how many
// temporary files it holds.
func checkStateDir(t *testing.T, dir string, kill int) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	temps := 0
	for _, en := range entries {
		name := en.Name()
		switch {
		case name == genericFile || name == energyFile || name == tokenFile:
		case tempName.MatchString(name):
			temps++
		default:
			t.Fatalf("kill %d: unexpected entry %q in the state directory", kill, name)
		}
		fi, err := en.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != statefile.Mode {
			t.Fatalf("kill %d: %s has mode %v, want %v", kill, name, fi.Mode().Perm(), statefile.Mode)
		}
	}
	return temps
}

func mustReadState(t *testing.T, path string, v any) {
	t.Helper()
	found, err := statefile.ReadJSON(path, v)
	if err != nil || !found {
		t.Fatalf("%s after kill -9: found %v, %v", filepath.Base(path), found, err)
	}
}

// stateChild is one writer process and what it reported.
type stateChild struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	lines  chan string
	eof    chan struct{}

	mu    sync.Mutex
	done  childProgress
	ready childProgress // what the child loaded, from its "ready" line
}

// childProgress is what the child reported finished (durably written).
type childProgress struct {
	uuid   string
	energy float64
	gen    int
	logins int
}

func startStateChild(t *testing.T, dir, cloudURL string, once bool) *stateChild {
	t.Helper()
	cmd := childCommand("-test.run=^TestStateFilesSurviveKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), stateChildEnv+"="+dir, stateChildURLEnv+"="+cloudURL)
	if once {
		cmd.Env = append(cmd.Env, stateChildOnceEnv+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &stateChild{cmd: cmd, stderr: &strings.Builder{}, lines: make(chan string, 1), eof: make(chan struct{}), done: childProgress{gen: -1}}
	cmd.Stderr = &lockedWriter{w: c.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	go c.read(out)
	return c
}

// read parses the child's progress lines until its stdout closes.
func (c *stateChild) read(r io.Reader) {
	defer close(c.eof)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 1 {
			continue
		}
		c.mu.Lock()
		switch f[0] {
		case "ready":
			c.done.uuid = f[1]
			c.done.energy, _ = strconv.ParseFloat(f[2], 64)
			c.done.gen, _ = strconv.Atoi(f[3])
			c.ready = c.done
			select {
			case c.lines <- "ready":
			default:
			}
		case "energy":
			c.done.energy, _ = strconv.ParseFloat(f[1], 64)
		case "gen":
			c.done.gen, _ = strconv.Atoi(f[1])
		case "login":
			c.done.logins++
		}
		c.mu.Unlock()
	}
}

func (c *stateChild) waitReady(t *testing.T) childProgress {
	t.Helper()
	select {
	case <-c.lines:
	case <-c.eof:
		_ = c.cmd.Wait()
		t.Fatalf("the writer child exited before it was ready: %s", c.stderr.String())
	case <-time.After(waitFor):
		t.Fatalf("the writer child is not ready after %v: %s", waitFor, c.stderr.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// kill sends SIGKILL and returns what the child reported finished.
func (c *stateChild) kill(t *testing.T) childProgress {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.eof // every line the child wrote before it died
	_ = c.cmd.Wait()
	if !strings.Contains(c.cmd.ProcessState.String(), "killed") {
		t.Fatalf("the writer child ended on its own (%v) before the kill: %s", c.cmd.ProcessState, c.stderr.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// stateWriterChild is the child: it loads the state in dir through the real
// code paths, reports "ready <uuid> <energy>", then loops (until killed, or
// once with stateChildOnceEnv) writing the energy total, the big generic
// file and, every third round, new tokens by a login, reporting each after
// it returned. Anything unexpected exits with status 3 and a message.
func stateWriterChild(t *testing.T, dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(3)
	}
	p, err := kasa.New(kasa.Options{Account: "home", Username: user, Password: password,
		URL: os.Getenv(stateChildURLEnv), StateDir: dir, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		fail("kasa.New: %v", err)
	}
	meter, err := cloud.OpenEnergyMeter(filepath.Join(dir, energyFile))
	if err != nil {
		fail("energy: %v", err)
	}
	var g genericState
	if _, err := statefile.ReadJSON(filepath.Join(dir, genericFile), &g); err != nil {
		fail("generic: %v", err)
	}
	total, _ := meter.Total(energyKey)
	fmt.Printf("ready %s %v %d\n", p.TerminalUUID(), total, g.Gen)
	once := os.Getenv(stateChildOnceEnv) != ""
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute) // killed long before
	for round := 0; time.Now().Before(deadline); round++ {
		total, err := meter.Add(energyKey, 1)
		if err != nil {
			fail("energy add: %v", err)
		}
		if err := meter.Flush(); err != nil {
			fail("energy flush: %v", err)
		}
		fmt.Printf("energy %v\n", total)
		g.Gen++
		if err := statefile.WriteJSON(filepath.Join(dir, genericFile), genericState{Gen: g.Gen, Fill: genericFill(g.Gen)}); err != nil {
			fail("generic write: %v", err)
		}
		fmt.Printf("gen %d\n", g.Gen)
		if round%3 == 0 {
			if err := p.Login(ctx, password); err != nil {
				fail("login: %v", err)
			}
			fmt.Println("login")
		}
		if once {
			os.Exit(0)
		}
	}
	fail("not killed within a minute")
}
