package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
	"github.com/kasa2mqtt/kasa2mqtt/discovery"
)

// The bridge API, zigbee2mqtt style: a request on
// <base>/bridge/request/<path> gets exactly one answer on
// <base>/bridge/response/<path>:
//
//	{"status":"ok"|"error","data":{…},"error":"…","transaction":<echoed>}
//
// Events go to <base>/bridge/event as {"type":"…","data":{…}}, and
// <base>/bridge/info (retained) describes the running bridge.

// apiPaths lists the request paths, for the error on an unknown one.
var apiPaths = []string{"health_check", "info", "devices/refresh", "device/refresh", "device/rename", "device/options", "log_level", "restart"}

// pendingReply is a request waiting for a device worker.
type pendingReply struct {
	path        string
	transaction json.RawMessage
}

type apiResponse struct {
	Status      string          `json:"status"`
	Data        any             `json:"data"`
	Error       string          `json:"error,omitempty"`
	Transaction json.RawMessage `json:"transaction,omitempty"`
}

// apiRequest is the union of every request's fields. Unknown fields are an
// error (a typo must not be silently ignored).
type apiRequest struct {
	Transaction json.RawMessage `json:"transaction"`
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	From        string          `json:"from"`
	To          string          `json:"to"`
	Account     string          `json:"account"`
	Level       string          `json:"level"`
	Component   string          `json:"component"`
	Options     *runtimeOption  `json:"options"`
}

// isRequestTopic reports whether topic is a bridge request.
func isRequestTopic(base, topic string) (string, bool) {
	path, ok := strings.CutPrefix(topic, base+"/bridge/request/")
	return path, ok && path != ""
}

// respond publishes the one answer to a request (not retained).
func (st *runState) respond(r *pendingReply, data any, err error) {
	resp := apiResponse{Status: "ok", Data: data, Transaction: r.transaction}
	if resp.Data == nil {
		resp.Data = struct{}{}
	}
	if err != nil {
		resp.Status, resp.Error = "error", err.Error()
		st.log.Warn("bridge request failed", zap.String("request", r.path), zap.Error(err))
	}
	payload, mErr := json.Marshal(resp)
	if mErr != nil {
		payload, _ = json.Marshal(apiResponse{Status: "error", Error: "internal error: " + mErr.Error(), Data: struct{}{}, Transaction: r.transaction})
	}
	topic := st.base + "/bridge/response/" + r.path
	if len(topic) > maxTopicLen {
		// "response" is one byte longer than "request": the longest
		// request topics have no response topic.
		st.log.Warn("cannot answer the request: response topic too long",
			zap.String(keyTopic, st.base+"/bridge/request/"+r.path), zap.Int("length", len(topic)), zap.Int("max", maxTopicLen))
		return
	}
	st.out.put(message{topic: topic, payload: payload})
}

// maxHeldEvents bounds the events kept while the broker is away.
const maxHeldEvents = 1000

// event publishes one bridge event (not retained). An event raised while
// the bridge is not connected (at start, before the broker answered, or
// during an outage) would be lost: it is held, up to maxHeldEvents (the
// oldest go first), and sent by the replay after the next connect. While
// events are held, later ones join them even if the connection is back
// (the replay may not have run yet), so events always go out in order.
func (st *runState) event(typ string, data any) {
	payload, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	m := message{topic: st.base + "/bridge/event", payload: payload}
	if !st.b.online.Load() || len(st.heldEvents) > 0 {
		if len(st.heldEvents) >= maxHeldEvents {
			st.heldEvents = st.heldEvents[1:]
		}
		st.heldEvents = append(st.heldEvents, m)
		return
	}
	st.out.put(m)
}

// deviceEvent is the data of device_* events.
type deviceEvent struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Account  string `json:"account"`
	Name     string `json:"name"`
	Topic    string `json:"topic"`
	From     string `json:"from,omitempty"`
}

func (st *runState) deviceEvent(typ string, dv *device, from string) {
	st.event(typ, deviceEvent{ID: dv.dev.ID, Provider: dv.dev.Provider, Account: dv.prov.Account(), Name: dv.dev.Name, Topic: dv.topic, From: from})
}

// handleRequest answers one bridge request.
func (st *runState) handleRequest(path string, m mqttMessage) {
	if m.retained {
		st.log.Debug("ignoring retained bridge request", zap.String(keyTopic, m.topic))
		return
	}
	reply := &pendingReply{path: path}
	req, err := decodeRequest(m.payload)
	if m.size > maxPayload {
		err = fmt.Errorf("payload of %d bytes is larger than %d", m.size, maxPayload)
	}
	reply.transaction = req.Transaction
	if err != nil {
		st.respond(reply, nil, fmt.Errorf("bad request on %s: %w", m.topic, err))
		return
	}
	switch path {
	case "health_check":
		st.respond(reply, st.health(), nil)
	case "info":
		st.respond(reply, st.publishInfo(), nil)
	case "devices/refresh":
		st.requestDevicesRefresh(reply, req)
	case "device/refresh":
		dv, err := st.findDevice(req)
		if err == nil && !dv.worker.enqueue(job{reply: reply}) {
			err = errors.New("the device is busy; try again")
		}
		if err != nil {
			st.respond(reply, nil, err)
		}
	case "device/rename":
		st.requestRename(reply, req)
	case "device/options":
		st.requestOptions(reply, req)
	case "log_level":
		st.requestLogLevel(reply, req)
	case "restart":
		if st.b.opts.Restart == nil {
			st.respond(reply, nil, errors.New("restart is not available in this mode"))
			return
		}
		st.respond(reply, struct{}{}, nil)
		st.log.Info("restart requested over MQTT")
		st.b.opts.Restart()
	default:
		st.respond(reply, nil, fmt.Errorf("unknown request %q; known: %s", path, strings.Join(apiPaths, ", ")))
	}
}

// decodeRequest decodes a request payload: empty means {}; anything else
// must be one JSON object of known fields.
func decodeRequest(payload []byte) (apiRequest, error) {
	var req apiRequest
	if len(payload) > maxPayload {
		return req, fmt.Errorf("payload of %d bytes is larger than %d", len(payload), maxPayload)
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return req, nil
	}
	if trimmed[0] != '{' {
		return req, fmt.Errorf("payload must be a JSON object, got %s", quotePayload(trimmed))
	}
	// Get the transaction first so even a request with bad fields echoes it.
	var tx struct {
		Transaction json.RawMessage `json:"transaction"`
	}
	_ = json.Unmarshal(trimmed, &tx)
	req.Transaction = tx.Transaction
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apiRequest{Transaction: tx.Transaction}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return apiRequest{Transaction: tx.Transaction}, errors.New("invalid JSON: more than one value")
	}
	return req, nil
}

// findDevice resolves a request's "id", "topic" or "from" (a topic, an id
// or a unique name).
func (st *runState) findDevice(req apiRequest) (*device, error) {
	switch {
	case req.ID != "":
		for _, dv := range st.devices {
			if dv.dev.ID == req.ID {
				return dv, nil
			}
		}
		return nil, fmt.Errorf("no device with id %q", req.ID)
	case req.Topic != "":
		if dv := st.byTopic[req.Topic]; dv != nil {
			return dv, nil
		}
		return nil, fmt.Errorf("no device with topic %q", req.Topic)
	case req.From != "":
		if dv := st.byTopic[req.From]; dv != nil {
			return dv, nil
		}
		var found []*device
		for _, dv := range st.devices {
			if dv.dev.ID == req.From || dv.dev.Name == req.From {
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

func (st *runState) requestDevicesRefresh(reply *pendingReply, req apiRequest) {
	var accounts []string
	for _, p := range st.b.providers {
		if req.Account != "" && p.Account() != req.Account {
			continue
		}
		accounts = append(accounts, p.Account())
		if pl := st.pollers[p]; pl != nil {
			select {
			case pl.relist <- struct{}{}:
			default: // a list is already pending
			}
		}
	}
	if len(accounts) == 0 {
		st.respond(reply, nil, fmt.Errorf("no account named %q", req.Account))
		return
	}
	st.respond(reply, map[string]any{"accounts": accounts}, nil)
}

func (st *runState) requestRename(reply *pendingReply, req apiRequest) {
	dv, err := st.findDevice(req)
	if err != nil {
		st.respond(reply, nil, err)
		return
	}
	to := strings.TrimSpace(req.To)
	if to == "" {
		st.respond(reply, nil, errors.New(`"to" (the new name) is required`))
		return
	}
	if _, ok := dv.prov.(cloud.Renamer); !ok {
		st.respond(reply, nil, fmt.Errorf("the %s provider cannot rename devices", dv.prov.Kind()))
		return
	}
	if !dv.worker.enqueue(job{rename: to, reply: reply}) {
		st.respond(reply, nil, errors.New("the device is busy; try again"))
	}
}

// renamed applies a successful vendor-cloud rename: the new name (unless a
// configured name overrides it), the topic that follows from it, and new
// discovery with the same unique_ids.
func (st *runState) renamed(dv *device, name string) map[string]any {
	from := dv.dev.Name
	d := dv.dev
	d.Name = name
	d.Name = st.displayName(d)
	st.updateDevice(dv, d)
	st.saveKnown()
	st.publishDeviceList()
	st.deviceEvent("device_renamed", dv, from)
	return map[string]any{"id": dv.dev.ID, "from": from, "to": dv.dev.Name, "topic": dv.topic}
}

func (st *runState) requestOptions(reply *pendingReply, req apiRequest) {
	dv, err := st.findDevice(req)
	var id string
	switch {
	case err == nil:
		id = dv.dev.ID
	case req.ID != "":
		// A disabled device is not in the registry; it can be re-enabled by id.
		id, err = req.ID, nil
	}
	if err != nil {
		st.respond(reply, nil, err)
		return
	}
	if req.Options == nil {
		st.respond(reply, nil, errors.New(`"options" is required, e.g. {"options":{"topic":"kitchen/kettle"}}`))
		return
	}
	o := *req.Options
	if o.Topic != nil && *o.Topic != "" {
		if err := checkTopic(*o.Topic); err != nil {
			st.respond(reply, nil, err)
			return
		}
		if other := st.byTopic[*o.Topic]; other != nil && other.dev.ID != id {
			st.respond(reply, nil, fmt.Errorf("topic %q is used by %q", *o.Topic, other.dev.Name))
			return
		}
	}
	if o.Name != nil && strings.TrimSpace(*o.Name) == "" && *o.Name != "" {
		st.respond(reply, nil, errors.New(`"name" must not be blank (use "" to go back to the app's name)`))
		return
	}
	if err := st.ov.set(id, o); err != nil {
		st.respond(reply, nil, err)
		return
	}
	eff := st.ov.get(id)
	if dv != nil {
		if eff.Disabled {
			st.removeDevice(dv, "disabled over MQTT")
			st.saveKnown()
			st.publishDeviceList()
		} else {
			d := dv.dev
			d.Name = st.cloudName(dv)
			d.Name = st.displayName(d)
			st.updateDevice(dv, d)
			st.saveKnown()
			st.publishDeviceList()
		}
	} else if !eff.Disabled {
		// Re-enabled: list its account again to bring it back.
		for _, p := range st.b.providers {
			st.relistNow(p)
		}
	}
	st.respond(reply, map[string]any{"id": id, "options": map[string]any{"name": eff.Name, "topic": eff.Topic, "disabled": eff.Disabled}}, nil)
}

func (st *runState) requestLogLevel(reply *pendingReply, req apiRequest) {
	if st.b.opts.SetLogLevel == nil {
		st.respond(reply, nil, errors.New("changing the log level is not available in this mode"))
		return
	}
	if req.Level == "" {
		st.respond(reply, nil, errors.New(`"level" is required: debug, info, warn or error`))
		return
	}
	if err := st.b.opts.SetLogLevel(req.Component, req.Level); err != nil {
		st.respond(reply, nil, err)
		return
	}
	st.log.Info("log level changed over MQTT", zap.String("component", req.Component), zap.String("level", req.Level))
	st.respond(reply, map[string]string{"component": req.Component, "level": req.Level}, nil)
	st.publishInfo()
}

// ---- bridge/info and health ----------------------------------------------

// accountInfo is one account in bridge/info and health_check.
type accountInfo struct {
	Provider    string     `json:"provider"`
	Status      string     `json:"status"` // starting, ok, auth_error, rate_limited, error
	Problem     bool       `json:"problem"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	LoggedIn    *bool      `json:"logged_in,omitempty"`
	CallsToday  int        `json:"calls_today"`
	Devices     int        `json:"devices"`
}

type bridgeInfo struct {
	Version       string                 `json:"version"`
	Commit        string                 `json:"commit,omitempty"`
	StartedAt     time.Time              `json:"started_at"`
	UptimeSeconds int64                  `json:"uptime_seconds"`
	LogLevel      string                 `json:"log_level,omitempty"`
	Output        string                 `json:"output"`
	Devices       int                    `json:"devices"`
	Accounts      map[string]accountInfo `json:"accounts"`
	Config        any                    `json:"config,omitempty"`
}

func (st *runState) accountInfos() map[string]accountInfo {
	out := map[string]accountInfo{}
	for _, p := range st.b.providers {
		as := st.accountStatus(p)
		ai := accountInfo{Provider: p.Kind(), Status: as.status, LastError: as.lastErr}
		ai.Problem = as.status != "ok" && as.status != "starting"
		if !as.errAt.IsZero() {
			t := as.errAt
			ai.LastErrorAt = &t
		}
		if sr, ok := p.(cloud.StatsReporter); ok {
			s := sr.Stats()
			ai.LoggedIn, ai.CallsToday = &s.LoggedIn, s.CallsToday
		}
		for _, dv := range st.devices {
			if dv.prov == p {
				ai.Devices++
			}
		}
		out[p.Account()] = ai
	}
	return out
}

// publishInfo publishes (retained) and returns bridge/info.
func (st *runState) publishInfo() bridgeInfo {
	o := st.b.opts
	info := bridgeInfo{
		Version: o.Version, Commit: o.Commit, StartedAt: st.b.started.UTC().Truncate(time.Second),
		UptimeSeconds: int64(time.Since(st.b.started).Seconds()), Output: o.Output,
		Devices: len(st.devices), Accounts: st.accountInfos(), Config: o.Config,
	}
	if o.LogLevel != nil {
		info.LogLevel = o.LogLevel()
	}
	payload, err := json.Marshal(info)
	if err != nil {
		st.log.Error("cannot encode bridge/info", zap.Error(err))
		return info
	}
	st.publish(discovery.BridgeInfoTopic(st.base), payload)
	return info
}

// health is the health_check answer.
func (st *runState) health() map[string]any {
	accounts := st.accountInfos()
	healthy := st.b.online.Load()
	for _, a := range accounts {
		if a.Problem {
			healthy = false
		}
	}
	return map[string]any{"healthy": healthy, "mqtt_connected": st.b.online.Load(), "accounts": accounts}
}

// publishBridgeDiscovery publishes the bridge's own Home Assistant device.
func (st *runState) publishBridgeDiscovery() {
	if !st.b.opts.HomeAssistant {
		return
	}
	var names []string
	for _, p := range st.b.providers {
		names = append(names, p.Account())
	}
	slices.Sort(names)
	payload, err := discovery.BridgePayload(st.b.disc, discovery.Bridge{Accounts: names})
	if err != nil {
		st.log.Error("cannot build the bridge's discovery payload", zap.Error(err))
		return
	}
	st.publish(discovery.BridgeConfigTopic(st.b.disc), payload)
}

// updateReadiness records, for Bridge.Ready, which accounts have not
// reached a steady state (listed once, or failed for a reported reason).
func (st *runState) updateReadiness() {
	var waiting []string
	for _, p := range st.b.providers {
		if st.accountStatus(p).status == "starting" {
			waiting = append(waiting, p.Account())
		}
	}
	st.b.waiting.Store(&waiting)
}
