package bridge

import (
	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// lightQueue coalesces the light commands of one device: while one is
// queued or under way, later ones are folded into pending (mergeLight: the
// last value of each setting wins), which is queued when the one under way
// has its result. A dragged slider that publishes 50 brightness values
// thus costs two commands, not 50.
type lightQueue struct {
	busy    bool           // a light command is queued or under way
	pending *cloud.Command // the commands that arrived meanwhile, merged
	// intent is the on/off of the last light command accepted, while one
	// is busy or pending: what TOGGLE toggles.
	intent *bool
}

// lightCommand turns a /set message for a light into a command and
// queues it, or folds it into the pending one.
func (r *registry) lightCommand(dv *device, m mqttMessage, req setRequest) {
	cur := dv.light.intent
	if cur == nil && dv.state != nil && dv.state.Light != nil {
		cur = cloud.Bool(dv.state.Light.On)
	}
	cmd, err := lightCommand(dv.dev, req, cur)
	if err != nil {
		r.log.Warn("ignoring bad light command", zap.String(keyTopic, m.topic), payloadField(m.payload), zap.Error(err))
		return
	}
	lq := &dv.light
	if lq.busy {
		merged := cmd
		if lq.pending != nil {
			merged = mergeLight(*lq.pending, cmd)
		}
		lq.pending, lq.intent = &merged, cloud.Bool(merged.On)
		r.log.Debug("light command folded into the next one", zap.String(keyTopic, m.topic), zap.Stringer("command", merged))
		return
	}
	if !r.enqueue(dv, job{cmd: &cmd}) {
		r.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
		return
	}
	lq.busy, lq.intent = true, cloud.Bool(cmd.On)
	r.log.Debug("command queued", zap.String(keyTopic, m.topic), zap.Stringer("command", cmd))
}

// lightDone records the result of a light command: the pending one, if
// any, is queued now.
func (r *registry) lightDone(dv *device) {
	lq := &dv.light
	lq.busy = false
	if lq.pending == nil {
		lq.intent = nil
		return
	}
	next := *lq.pending
	lq.pending = nil
	if !r.enqueue(dv, job{cmd: &next}) {
		lq.intent = nil
		r.log.Warn("too many commands queued for the device, dropping", zap.String(keyTopic, dv.topic), zap.Stringer("command", next))
		return
	}
	lq.busy = true
}
