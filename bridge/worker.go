package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// commandRetryDelays are the waits before each retry of a command that
// failed for a reason that may pass (see retryable); their number is the
// most retries a command gets.
var commandRetryDelays = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// commandBudget bounds a command's Apply calls, retries included, for a
// request timeout rt: every attempt may take rt (a hung first attempt
// still leaves room for every retry), plus the waits between them. With
// the default 20 s: 83.5 s.
func commandBudget(rt time.Duration) time.Duration {
	d := time.Duration(1+len(commandRetryDelays)) * rt
	for _, wait := range commandRetryDelays {
		d += wait
	}
	return d
}

// retryable reports whether cmd, which failed with err, may be sent again:
// only the idempotent sets (relay, LED, light; never a reboot), and only when err
// says the cloud may answer later: cloud.ErrUnavailable (HTTP 5xx, network
// errors, a busy cloud) or cloud.ErrTimeout, which wraps it. Anything else
// (credentials, an offline, unknown or incapable device, a refusal, a rate
// limit, an answer that could not be understood, a recovered panic, the
// worker stopping) is final.
func retryable(cmd cloud.Command, err error) bool {
	if cmd.Action != cloud.ActionSetRelay && cmd.Action != cloud.ActionSetLED && cmd.Action != cloud.ActionSetLight {
		return false
	}
	return errors.Is(err, cloud.ErrUnavailable)
}

// job is one unit of work for a device worker: a command (then a re-read),
// or a re-read alone when cmd is nil.
type job struct {
	cmd *cloud.Command
	// rename, when set, renames the device in the vendor cloud first.
	rename string
	// reply, when set, is the bridge request waiting for this job.
	reply *pendingReply
}

// resultEvent carries what a worker did.
type resultEvent struct {
	key       string
	worker    uint64 // the worker's serial number (startWorkerEffect.serial)
	cmd       *cloud.Command
	rename    string
	renameErr error
	reply     *pendingReply
	applyErr  error
	state     *cloud.State // nil when the re-read failed
	readErr   error
	started   time.Time // when the re-read started
}

// worker serialises the commands and re-reads of one device, so commands
// for one device are applied in the order they arrived. Its goroutine
// runs only while it has jobs: it starts with the first job queued and
// ends when the queue is empty, so thousands of idle devices cost no
// goroutines (nor their stacks).
type worker struct {
	key    string
	serial uint64
	id     string
	prov   cloud.Provider
	events chan<- event
	log    *zap.Logger
	// rt is the request timeout: the bound of a rename and of a re-read,
	// and the unit of the command budget (commandBudget).
	rt    time.Duration
	clock clock
	// allow, when set, says whether a command may be sent now (the
	// account's call budget); its error fails the command unsent.
	allow  func() error
	parent context.Context
	wg     sync.WaitGroup

	mu      sync.Mutex
	queue   []job
	cancel  context.CancelFunc // of the goroutine under way; nil when none
	stopped bool
}

// workerQueue is how many jobs one device may have waiting or under way;
// the registry counts them and refuses more.
const workerQueue = 32

// startWorker makes the worker of one device; log is the bridge's (the
// worker adds the device id while it runs); rt is the request timeout
// (<= 0: cloud.DefaultRequestTimeout); c times the retry delays and the
// re-reads; allow (may be nil) guards commands. Its goroutine, its context
// and its logger exist only while it has jobs.
func startWorker(parent context.Context, key string, serial uint64, id string, prov cloud.Provider, events chan<- event, log *zap.Logger, rt time.Duration, c clock, allow func() error) *worker {
	if rt <= 0 {
		rt = cloud.DefaultRequestTimeout
	}
	return &worker{key: key, serial: serial, id: id, prov: prov, events: events, log: log, rt: rt,
		clock: c, allow: allow, parent: parent}
}

// enqueue adds j without blocking, starting the goroutine if it is not
// running; false when the queue is full or the worker stopped.
func (w *worker) enqueue(j job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || len(w.queue) >= workerQueue {
		return false
	}
	w.queue = append(w.queue, j)
	if w.cancel == nil {
		ctx, cancel := context.WithCancel(w.parent)
		w.cancel = cancel
		w.wg.Add(1)
		go w.run(ctx, w.log.With(zap.String(keyDeviceID, w.id)))
	}
	return true
}

func (w *worker) allowed() error {
	if w.allow == nil {
		return nil
	}
	return w.allow()
}

// stop cancels the job under way and waits for the goroutine, if any.
func (w *worker) stop() {
	w.mu.Lock()
	w.stopped = true
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// next takes the next job, or ends the goroutine (false) when there is
// none or the worker stopped.
func (w *worker) next(ctx context.Context) (job, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 || ctx.Err() != nil {
		w.cancel()
		w.cancel, w.queue = nil, nil
		return job{}, false
	}
	j := w.queue[0]
	w.queue[0] = job{}
	w.queue = w.queue[1:]
	return j, true
}

func (w *worker) run(ctx context.Context, log *zap.Logger) {
	defer w.wg.Done()
	for {
		j, ok := w.next(ctx)
		if !ok {
			return
		}
		ev := resultEvent{key: w.key, worker: w.serial, cmd: j.cmd, rename: j.rename, reply: j.reply}
		if j.rename != "" {
			rn, ok := w.prov.(cloud.Renamer)
			if !ok {
				ev.renameErr = fmt.Errorf("rename: %w: the %s provider cannot rename devices", cloud.ErrUnsupported, w.prov.Kind())
			} else {
				actx, cancel := context.WithTimeout(cloud.Interactive(ctx), w.rt)
				ev.renameErr = safely(log, "rename", func() error { return rn.Rename(actx, w.id, j.rename) })
				cancel()
			}
		}
		if j.cmd != nil {
			ev.applyErr = w.allowed()
			if ev.applyErr == nil {
				ev.applyErr = w.apply(ctx, log, *j.cmd)
			}
		}
		if ctx.Err() != nil {
			return
		}
		ev.started = w.clock.Now()
		// A person waits for this read (it confirms a command or answers
		// a request): it does not queue behind polls.
		rctx, cancel := context.WithTimeout(cloud.Interactive(ctx), w.rt)
		var states []cloud.State
		err := safely(log, "read state", func() (err error) {
			states, err = w.prov.ReadStates(rctx, []string{w.id})
			return err
		})
		cancel()
		ev.readErr = err
		for i := range states {
			if states[i].DeviceID == w.id {
				if states[i].Err != nil {
					ev.readErr = states[i].Err
				} else {
					st := states[i]
					ev.state = &st
				}
			}
		}
		if ev.state == nil && ev.readErr == nil {
			ev.readErr = cloud.ErrUnknownDevice
		}
		select {
		case w.events <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// apply sends cmd, and sends it again after commandRetryDelays while it
// fails for a retryable reason, within commandBudget(w.rt) in all. Commands
// for the device wait meanwhile, so they still reach the cloud in order. It
// returns the last error.
func (w *worker) apply(ctx context.Context, log *zap.Logger, cmd cloud.Command) error {
	actx, cancel := context.WithTimeout(cloud.Interactive(ctx), commandBudget(w.rt))
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := safely(log, "apply command", func() error { return w.prov.Apply(actx, cmd) })
		if err == nil || attempt == len(commandRetryDelays) || !retryable(cmd, err) || actx.Err() != nil {
			return err
		}
		wait := commandRetryDelays[attempt]
		log.Info("command failed; retrying", zap.Stringer("command", cmd), zap.Int("attempt", attempt+1),
			zap.Duration("in", wait), zap.Error(err))
		if !sleep(w.clock, wait, actx.Done()) {
			return err
		}
	}
}
