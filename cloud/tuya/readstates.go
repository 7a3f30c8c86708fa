package tuya

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/cloud/internal/jsonv"
)

// MaxStatusIDs is the most device ids one batch status call takes.
const MaxStatusIDs = 20

// readGroup is what a ReadStates call wants of one physical device: the
// device itself and/or some of its outlets (indices into the result).
type readGroup struct {
	id      string
	self    []int
	outlets []outletReq
	offline bool // known offline when the call started
}

type outletReq struct {
	idx  int
	code string
}

// statusEntry is one device of a batch status answer.
type statusEntry struct {
	values map[string]json.RawMessage
	times  map[string]int64 // per-code report time, when the cloud gives one
	online *bool            // when the cloud gives one
}

// ReadStates reads the given devices with the batch status API, at most 20
// physical devices per call, and returns one State per requested id, in the
// same order. Strip outlets are read with their strip, and devices known
// to be offline go in batches of their own, so N devices cost ⌈N/20⌉
// calls while all are online (one more batch per 20 offline ones).
//
// Values are scaled by 10^scale from the device's specification (a scale
// override wins), cur_current goes from mA to A, and add_ele (energy since
// the previous report) is added to the lifetime total in Options.Energy
// (key "tuya/<id>"), flushed once per call; the published total never
// decreases.
//
// A device is offline (Online false, Err wrapping cloud.ErrDeviceOffline)
// when the list says so, when a batch answers 2001, or when the answer
// leaves it out; it is online again when a later answer includes it or the
// list says so. Unknown ids get cloud.ErrUnknownDevice; other per-batch
// failures land in State.Err. Authentication, quota and rate-limit failures
// and cancellation are returned as the error. If no device was listed yet,
// ListDevices runs first.
func (p *Provider) ReadStates(ctx context.Context, ids []string) ([]cloud.State, error) {
	if err := p.ensureListed(ctx); err != nil {
		return nil, fmt.Errorf("tuya: read states: %w", err)
	}
	now := p.now()
	states := make([]cloud.State, len(ids))
	groups := p.plan(ids, states, now)

	defer func() {
		if err := p.energy.FlushSoon(); err != nil {
			p.log.Warn("tuya energy totals not saved", zap.Error(err))
		}
	}()
	for _, batch := range batches(groups) {
		batchIDs := make([]string, len(batch))
		for i, g := range batch {
			batchIDs[i] = g.id
		}
		entries, offline, err := p.readStatus(ctx, batchIDs, !batch[0].offline)
		if err != nil {
			if isAccountError(err) {
				return nil, fmt.Errorf("tuya: read states: %w", err)
			}
			for _, g := range batch {
				p.failGroup(g, states, err)
			}
			continue
		}
		for _, g := range batch {
			e, present := entries[g.id]
			p.fillGroup(g, states, e, present, offline[g.id], now)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tuya: read states: %w", err)
	}
	return states, nil
}

// batches splits the groups into status calls of at most MaxStatusIDs:
// devices believed online first, then those known offline, so that a 2001
// answer for a batch of known-offline devices does not touch the others.
func batches(groups []*readGroup) [][]*readGroup {
	var out [][]*readGroup
	for _, offline := range []bool{false, true} {
		var cur []*readGroup
		for _, g := range groups {
			if g.offline != offline {
				continue
			}
			cur = append(cur, g)
			if len(cur) == MaxStatusIDs {
				out = append(out, cur)
				cur = nil
			}
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// plan groups the requested ids by physical device, in order of first
// mention, and fills the States of unknown ids.
func (p *Provider) plan(ids []string, states []cloud.State, now time.Time) []*readGroup {
	p.mu.Lock()
	defer p.mu.Unlock()
	byID := map[string]*readGroup{}
	var groups []*readGroup
	group := func(id string) *readGroup {
		g := byID[id]
		if g == nil {
			g = &readGroup{id: id, offline: !p.devices[id].online()}
			byID[id] = g
			groups = append(groups, g)
		}
		return g
	}
	for i, id := range ids {
		states[i] = cloud.State{DeviceID: id, ReadAt: now}
		if d, ok := p.devices[id]; ok && d.row.Supported && d.layout().supported() {
			g := group(id)
			g.self = append(g.self, i)
			continue
		}
		if o, ok := p.outlets[id]; ok {
			if _, ok := p.devices[o.parent]; ok {
				g := group(o.parent)
				g.outlets = append(g.outlets, outletReq{idx: i, code: o.code})
				continue
			}
		}
		states[i].Err = fmt.Errorf("tuya: read %q: %w", id, cloud.ErrUnknownDevice)
	}
	return groups
}

// readStatus reads one batch; the ids found offline are returned in
// offline. A 2001 answer (device offline) for several ids is narrowed down
// by halving when split is set (a batch of devices believed online), so
// that one device that just went offline does not fail the others; for a
// batch of devices already known offline it applies to all of them.
func (p *Provider) readStatus(ctx context.Context, ids []string, split bool) (map[string]statusEntry, map[string]bool, error) {
	res, err := p.authCall(ctx, request{
		method: "GET",
		path:   "/v1.0/iot-03/devices/status",
		query:  url.Values{"device_ids": {strings.Join(ids, ",")}},
		op:     "GET /v1.0/iot-03/devices/status",
	})
	if code, ok := apiCode(err); ok && code == codeDeviceOffline {
		if len(ids) == 1 || !split {
			all := make(map[string]bool, len(ids))
			for _, id := range ids {
				all[id] = true
			}
			return map[string]statusEntry{}, all, nil
		}
		half := len(ids) / 2
		e1, o1, err := p.readStatus(ctx, ids[:half], true)
		if err != nil {
			return nil, nil, err
		}
		e2, o2, err := p.readStatus(ctx, ids[half:], true)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range e2 {
			e1[k] = v
		}
		for k, v := range o2 {
			o1[k] = v
		}
		return e1, o1, nil
	}
	if err != nil {
		return nil, nil, err
	}
	entries, err := parseBatchStatus(res)
	return entries, map[string]bool{}, err
}

// parseBatchStatus decodes [{"id":…,"status":[{"code","value"[,"t"]}]
// [,"online":bool]}, …]. Entries without an id are skipped.
func parseBatchStatus(raw json.RawMessage) (map[string]statusEntry, error) {
	items, ok := jsonv.Array(raw)
	if !ok {
		if strings.TrimSpace(string(raw)) == "null" {
			return map[string]statusEntry{}, nil
		}
		return nil, errors.New("batch status: result is not an array")
	}
	out := make(map[string]statusEntry, len(items))
	for _, it := range items {
		m, ok := jsonv.Object(it)
		if !ok {
			continue
		}
		id, _ := jsonv.String(m["id"])
		if id == "" {
			continue
		}
		e := statusEntry{values: map[string]json.RawMessage{}, times: map[string]int64{}}
		if list, ok := jsonv.Array(m["status"]); ok {
			for _, s := range list {
				sm, ok := jsonv.Object(s)
				if !ok {
					continue
				}
				code, _ := jsonv.String(sm["code"])
				if code == "" || sm["value"] == nil {
					continue
				}
				e.values[code] = sm["value"]
				if t, ok := jsonv.Int64(sm["t"]); ok && t > 0 {
					e.times[code] = t
				} else if t, ok := jsonv.Int64(sm["time"]); ok && t > 0 {
					e.times[code] = t
				}
			}
		}
		if on, ok := jsonv.Bool(m["online"]); ok {
			e.online = &on
		}
		out[id] = e
	}
	return out, nil
}

func (p *Provider) failGroup(g *readGroup, states []cloud.State, err error) {
	p.mu.Lock()
	online := false
	if d := p.devices[g.id]; d != nil {
		online = d.online()
	}
	p.mu.Unlock()
	for _, i := range g.self {
		states[i].Online = online
		states[i].Err = fmt.Errorf("tuya: read %q: %w", states[i].DeviceID, err)
	}
	for _, o := range g.outlets {
		states[o.idx].Online = online
		states[o.idx].Err = fmt.Errorf("tuya: read %q: %w", states[o.idx].DeviceID, err)
	}
}
