package bridge

import (
	"context"
	"errors"
	"fmt"
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
// for one device are applied in the order they arrived.
type worker struct {
	key    string
	serial uint64
	id     string
	prov   cloud.Provider
	jobs   chan job
	events chan<- event
	log    *zap.Logger
	// rt is the request timeout: the bound of a rename and of a re-read,
	// and the unit of the command budget (commandBudget).
	rt     time.Duration
	clock  clock
	cancel context.CancelFunc
	done   chan struct{}
}

// workerQueue is how many jobs one device may have waiting or under way;
// the registry counts them and refuses more.
const workerQueue = 32

// startWorker starts the worker of one device; rt is the request timeout
// (<= 0: cloud.DefaultRequestTimeout); c times the retry delays and the
// re-reads.
func startWorker(parent context.Context, key string, serial uint64, id string, prov cloud.Provider, events chan<- event, log *zap.Logger, rt time.Duration, c clock) *worker {
	if rt <= 0 {
		rt = cloud.DefaultRequestTimeout
	}
	ctx, cancel := context.WithCancel(parent)
	w := &worker{key: key, serial: serial, id: id, prov: prov, jobs: make(chan job, workerQueue), events: events, log: log, rt: rt,
		clock: c, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

// enqueue adds j without blocking; false when the queue is full.
func (w *worker) enqueue(j job) bool {
	select {
	case w.jobs <- j:
		return true
	default:
		return false
	}
}

func (w *worker) stop() {
	w.cancel()
	<-w.done
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-w.jobs:
			ev := resultEvent{key: w.key, worker: w.serial, cmd: j.cmd, rename: j.rename, reply: j.reply}
			if j.rename != "" {
				rn, ok := w.prov.(cloud.Renamer)
				if !ok {
					ev.renameErr = fmt.Errorf("rename: %w: the %s provider cannot rename devices", cloud.ErrUnsupported, w.prov.Kind())
				} else {
					actx, cancel := context.WithTimeout(ctx, w.rt)
					ev.renameErr = safely(w.log, "rename", func() error { return rn.Rename(actx, w.id, j.rename) })
					cancel()
				}
			}
			if j.cmd != nil {
				ev.applyErr = w.apply(ctx, *j.cmd)
			}
			if ctx.Err() != nil {
				return
			}
			ev.started = w.clock.Now()
			rctx, cancel := context.WithTimeout(ctx, w.rt)
			var states []cloud.State
			err := safely(w.log, "read state", func() (err error) {
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
}

// apply sends cmd, and sends it again after commandRetryDelays while it
// fails for a retryable reason, within commandBudget(w.rt) in all. Commands
// for the device wait meanwhile, so they still reach the cloud in order. It
// returns the last error.
func (w *worker) apply(ctx context.Context, cmd cloud.Command) error {
	actx, cancel := context.WithTimeout(ctx, commandBudget(w.rt))
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := safely(w.log, "apply command", func() error { return w.prov.Apply(actx, cmd) })
		if err == nil || attempt == len(commandRetryDelays) || !retryable(cmd, err) || actx.Err() != nil {
			return err
		}
		wait := commandRetryDelays[attempt]
		w.log.Info("command failed; retrying", zap.Stringer("command", cmd), zap.Int("attempt", attempt+1),
			zap.Duration("in", wait), zap.Error(err))
		if !sleep(w.clock, wait, actx.Done()) {
			return err
		}
	}
}
