package bridge

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// commandTimeout bounds one Apply and one re-read.
const commandTimeout = 20 * time.Second

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
	id     string
	prov   cloud.Provider
	jobs   chan job
	events chan<- event
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// workerQueue is how many commands may wait for one device.
const workerQueue = 32

func startWorker(parent context.Context, key, id string, prov cloud.Provider, events chan<- event, log *zap.Logger) *worker {
	ctx, cancel := context.WithCancel(parent)
	w := &worker{key: key, id: id, prov: prov, jobs: make(chan job, workerQueue), events: events, log: log, cancel: cancel, done: make(chan struct{})}
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
			ev := resultEvent{key: w.key, cmd: j.cmd, rename: j.rename, reply: j.reply}
			if j.rename != "" {
				rn, ok := w.prov.(cloud.Renamer)
				if !ok {
					ev.renameErr = fmt.Errorf("rename: %w: the %s provider cannot rename devices", cloud.ErrUnsupported, w.prov.Kind())
				} else {
					actx, cancel := context.WithTimeout(ctx, commandTimeout)
					ev.renameErr = safely(w.log, "rename", func() error { return rn.Rename(actx, w.id, j.rename) })
					cancel()
				}
			}
			if j.cmd != nil {
				actx, cancel := context.WithTimeout(ctx, commandTimeout)
				ev.applyErr = safely(w.log, "apply command", func() error { return w.prov.Apply(actx, *j.cmd) })
				cancel()
			}
			if ctx.Err() != nil {
				return
			}
			ev.started = time.Now()
			rctx, cancel := context.WithTimeout(ctx, commandTimeout)
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
