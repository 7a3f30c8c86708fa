package cloudtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Recorder keeps what a test's providers log, return and report to their
// Observer, and when the test ends fails it if any of that holds one of
// the account's secrets. The contract checks use one per check; a vendor
// package's own tests may use one too. It is safe for concurrent use.
type Recorder struct {
	logs *observer.ObservedLogs
	log  *zap.Logger
	obs  *events

	mu   sync.Mutex
	errs []error
}

// NewRecorder returns a Recorder whose secrets check runs at t's cleanup,
// with the secrets returned then by secrets (so that tokens issued during
// the test count).
func NewRecorder(t interface {
	Cleanup(func())
	Errorf(format string, args ...any)
}, secrets func() []string) *Recorder {
	core, logs := observer.New(zap.DebugLevel)
	r := &Recorder{logs: logs, log: zap.New(core), obs: &events{}}
	t.Cleanup(func() {
		for _, leak := range r.leaks(secrets()) {
			t.Errorf("%s", leak)
		}
	})
	return r
}

// Logger is the logger to give providers: it records every entry, debug
// included.
func (r *Recorder) Logger() *zap.Logger { return r.log }

// Logs returns what Logger recorded.
func (r *Recorder) Logs() *observer.ObservedLogs { return r.logs }

// Observer is an Observer to give providers: it records the calls and
// logins it is told about.
func (r *Recorder) Observer() cloud.Observer { return r.obs }

// Track keeps errors (nil ones are ignored) for the secrets check.
func (r *Recorder) Track(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			r.errs = append(r.errs, err)
		}
	}
}

// leaks describes every recorded text that holds a secret.
func (r *Recorder) leaks(secrets []string) []string {
	var texts []string
	for _, e := range r.logs.All() {
		texts = append(texts, e.Message+" "+fmt.Sprint(e.ContextMap()))
	}
	r.mu.Lock()
	for _, err := range r.errs {
		texts = append(texts, err.Error())
	}
	r.mu.Unlock()
	texts = append(texts, r.obs.methods()...)
	var out []string
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				out = append(out, fmt.Sprintf("secret %q leaked into %q", s, text))
			}
		}
	}
	return out
}

// events is a cloud.Observer that records what it is told.
type events struct {
	mu     sync.Mutex
	calls  []string // provider, account and method of each call
	logins map[string]int
}

func (e *events) CloudCall(provider, account, method string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, provider+" "+account+" "+method)
}

func (e *events) Login(provider, account, kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.logins == nil {
		e.logins = map[string]int{}
	}
	e.logins[kind]++
}

// counts returns the calls and the logins plus refreshes so far.
func (e *events) counts() (calls, renewals int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.logins {
		renewals += n
	}
	return len(e.calls), renewals
}

// login returns how many logins of kind ("login", "refresh") were told.
func (e *events) login(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logins[kind]
}

func (e *events) methods() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}
