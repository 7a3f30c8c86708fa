package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// The registry's handlers for the bridge API (bridge/request/<path>); the
// wire format is in api.go.

// handleRequest answers one bridge request, at once or, for requests that
// need the cloud, when the worker's result comes back (handleResult).
//
// path is empty for a request on <base>/bridge/request or
// <base>/bridge/request/: it is answered with an error on
// <base>/bridge/response.
func (r *registry) handleRequest(path string, m mqttMessage) []effect {
	if r.retainedOrCleared(m, "bridge request") {
		return nil
	}
	reply := &pendingReply{path: path}
	req, err := decodeRequest(m.payload)
	if m.size > maxPayload {
		err = fmt.Errorf("payload of %d bytes is larger than %d", m.size, maxPayload)
	}
	reply.transaction = req.Transaction
	if err != nil {
		r.respond(reply, nil, fmt.Errorf("bad request on %s: %w", m.topic, err))
		return r.done()
	}
	switch path {
	case "":
		r.respond(reply, nil, fmt.Errorf("the request has no path: publish on %s/bridge/request/PATH, PATH one of: %s",
			r.opts.BaseTopic, strings.Join(apiPaths, ", ")))
	case "health_check":
		r.respond(reply, r.health(), nil)
	case "info":
		r.respond(reply, r.publishInfo(), nil)
	case "devices/refresh":
		r.requestDevicesRefresh(reply, req)
	case "device/refresh":
		dv, err := r.findDevice(req)
		if err == nil && !r.enqueue(dv, job{reply: reply}) {
			err = errors.New("the device is busy; try again")
		}
		if err != nil {
			r.respond(reply, nil, err)
		}
	case "device/rename":
		r.requestRename(reply, req)
	case "device/options":
		r.requestOptions(reply, req)
	case "log_level":
		r.requestLogLevel(reply, req)
	case "restart":
		if r.opts.Restart == nil {
			r.respond(reply, nil, errors.New("restart is not available in this mode"))
			break
		}
		r.respond(reply, struct{}{}, nil)
		r.log.Info("restart requested over MQTT")
		r.emit(restartEffect{})
	default:
		r.respond(reply, nil, fmt.Errorf("unknown request %q; known: %s", path, strings.Join(apiPaths, ", ")))
	}
	return r.done()
}

// respond publishes the one answer to a request (not retained).
func (r *registry) respond(reply *pendingReply, data any, err error) {
	resp := apiResponse{Status: "ok", Data: data, Transaction: reply.transaction}
	if resp.Data == nil {
		resp.Data = struct{}{}
	}
	if err != nil {
		resp.Status, resp.Error = "error", err.Error()
		r.log.Warn("bridge request failed", zap.String("request", reply.path),
			zap.String(keyTopic, requestTopic(r.opts.BaseTopic, reply.path)), zap.Error(err))
	}
	payload, mErr := json.Marshal(resp)
	if mErr != nil {
		payload, _ = json.Marshal(apiResponse{Status: "error", Error: "internal error: " + mErr.Error(), Data: struct{}{}, Transaction: reply.transaction})
	}
	base := r.opts.BaseTopic
	topic := responseTopic(base, reply.path)
	if len(topic) > maxTopicLen {
		// "response" is one byte longer than "request": the longest
		// request topics have no response topic.
		r.log.Warn("cannot answer the request: response topic too long",
			zap.String(keyTopic, requestTopic(base, reply.path)), zap.Int("length", len(topic)), zap.Int("max", maxTopicLen))
		return
	}
	r.emit(sendEffect{topic, payload})
}

// findDevice resolves a request's "id", "topic" or "from" (a topic, an id
// or a unique name).
func (r *registry) findDevice(req apiRequest) (*device, error) {
	switch {
	case req.ID != "":
		for _, key := range slices.Sorted(maps.Keys(r.devices)) {
			if dv := r.devices[key]; dv.dev.ID == req.ID {
				return dv, nil
			}
		}
		return nil, fmt.Errorf("no device with id %q", req.ID)
	case req.Topic != "":
		if dv := r.byTopic(req.Topic); dv != nil {
			return dv, nil
		}
		return nil, fmt.Errorf("no device with topic %q", req.Topic)
	case req.From != "":
		if dv := r.byTopic(req.From); dv != nil {
			return dv, nil
		}
		var found []*device
		for _, key := range slices.Sorted(maps.Keys(r.devices)) {
			if dv := r.devices[key]; dv.dev.ID == req.From || dv.dev.Name == req.From {
				found = append(found, dv)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
			return nil, fmt.Errorf("no device with topic, id or name %q", req.From)
		}
		return nil, fmt.Errorf("%d devices are named %q: use \"id\" or \"topic\"", len(found), req.From)
	}
	return nil, errors.New(`name the device with "id" or "topic"`)
}

func (r *registry) requestDevicesRefresh(reply *pendingReply, req apiRequest) {
	var accounts []string
	for _, p := range r.providers {
		if req.Account != "" && p.Account() != req.Account {
			continue
		}
		accounts = append(accounts, p.Account())
		r.emit(relistEffect{p})
	}
	if len(accounts) == 0 {
		r.respond(reply, nil, fmt.Errorf("no account named %q", req.Account))
		return
	}
	r.respond(reply, map[string]any{"accounts": accounts}, nil)
}

func (r *registry) requestRename(reply *pendingReply, req apiRequest) {
	dv, err := r.findDevice(req)
	if err != nil {
		r.respond(reply, nil, err)
		return
	}
	to := strings.TrimSpace(req.To)
	if to == "" {
		r.respond(reply, nil, errors.New(`"to" (the new name) is required`))
		return
	}
	if _, ok := dv.prov.(cloud.Renamer); !ok {
		r.respond(reply, nil, fmt.Errorf("the %s provider cannot rename devices", dv.prov.Kind()))
		return
	}
	if !r.enqueue(dv, job{rename: to, reply: reply}) {
		r.respond(reply, nil, errors.New("the device is busy; try again"))
	}
}

// requestOptions checks a device/options request and asks for the options
// to be stored; optionsSaved finishes it.
func (r *registry) requestOptions(reply *pendingReply, req apiRequest) {
	dv, err := r.findDevice(req)
	var id, key string
	switch {
	case err == nil:
		id, key = dv.dev.ID, dv.key
	case req.ID != "":
		// A disabled device is not in the registry; it can be re-enabled by id.
		id, err = req.ID, nil
	}
	if err != nil {
		r.respond(reply, nil, err)
		return
	}
	if req.Options == nil {
		r.respond(reply, nil, errors.New(`"options" is required, e.g. {"options":{"topic":"kitchen/kettle"}}`))
		return
	}
	o := *req.Options
	if o.Topic != nil && *o.Topic != "" {
		if err := checkTopic(*o.Topic); err != nil {
			r.respond(reply, nil, err)
			return
		}
		if other := r.byTopic(*o.Topic); other != nil && other.dev.ID != id {
			r.respond(reply, nil, fmt.Errorf("topic %q is used by %q", *o.Topic, other.dev.Name))
			return
		}
	}
	if o.Name != nil && strings.TrimSpace(*o.Name) == "" && *o.Name != "" {
		r.respond(reply, nil, errors.New(`"name" must not be blank (use "" to go back to the app's name)`))
		return
	}
	r.emit(saveOptionsEffect{id: id, key: key, opt: o, reply: reply})
}

// optionsSaved finishes a device/options request once the options were
// stored (err nil) or could not be: the device is updated, removed
// (disabled) or, when re-enabled, listed again, then the request answered.
func (r *registry) optionsSaved(e saveOptionsEffect, err error) []effect {
	if err != nil {
		r.respond(e.reply, nil, err)
		return r.done()
	}
	eff := r.ov.get(e.id)
	if dv := r.devices[e.key]; dv != nil {
		if eff.Disabled {
			r.removeDevice(dv, "disabled over MQTT")
		} else {
			d := dv.dev
			d.Name = r.cloudName(dv)
			d.Name = r.topics.name(d)
			r.updateDevice(dv, d)
		}
		r.saveKnown()
		r.publishDeviceList()
	} else if !eff.Disabled {
		// Re-enabled: list its account again to bring it back.
		for _, p := range r.providers {
			r.emit(relistEffect{p})
		}
	}
	r.respond(e.reply, map[string]any{"id": e.id, "options": map[string]any{"name": eff.Name, "topic": eff.Topic, "disabled": eff.Disabled}}, nil)
	return r.done()
}

func (r *registry) requestLogLevel(reply *pendingReply, req apiRequest) {
	if r.opts.SetLogLevel == nil {
		r.respond(reply, nil, errors.New("changing the log level is not available in this mode"))
		return
	}
	if req.Level == "" {
		r.respond(reply, nil, errors.New(`"level" is required: debug, info, warn or error`))
		return
	}
	if err := r.opts.SetLogLevel(req.Component, req.Level); err != nil {
		r.respond(reply, nil, err)
		return
	}
	r.log.Info("log level changed over MQTT", zap.String("component", req.Component), zap.String("level", req.Level))
	r.respond(reply, map[string]string{"component": req.Component, "level": req.Level}, nil)
	r.publishInfo()
}
