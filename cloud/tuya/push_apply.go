package tuya

import (
	"encoding/json"
	"maps"
	"strconv"
	"time"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// pushMemory is what the push connection remembers across messages to
// apply each once. It is owned by the connection's goroutine.
type pushMemory struct {
	// seen holds the keys of reports and events applied.
	seen *seenSet
	// unlisted holds the ids of the devices the provider does not know
	// that asked for a new device list.
	unlisted *seenSet
}

func newPushMemory() *pushMemory {
	return &pushMemory{seen: newSeenSet(seenCapacity), unlisted: newSeenSet(unlistedCapacity)}
}

// unlistedCapacity is how many devices the account does not list the push
// connection remembers (the other app users' devices of a project).
const unlistedCapacity = 1024

// applyPush applies one decoded message to the device cache and returns
// the updates for the bridge and the frame's result (cloud.PushApplied,
// PushDuplicate or PushIgnored).
func (p *Provider) applyPush(m pushMessage, mem *pushMemory) ([]cloud.Update, string) {
	seen := mem.seen
	switch m.kind {
	case pushStatus:
		return p.applyStatus(m, mem)
	case pushOnline, pushOffline:
		return p.applyOnline(m, seen)
	case pushRename:
		return p.applyRename(m)
	case pushRelist:
		key := "relist/" + m.devID + "/" + m.bizCode + "/" + strconv.FormatInt(m.at, 10)
		if m.at > 0 && seen.has(key) {
			return nil, cloud.PushDuplicate
		}
		seen.add(key)
		return []cloud.Update{{Kind: cloud.UpdateRelist}}, cloud.PushApplied
	}
	return nil, cloud.PushIgnored
}

// bridged returns the cached device id if it is bridged (a supported
// category with a switch data point); p.mu held.
func (p *Provider) bridgedLocked(id string) *physDevice {
	d := p.devices[id]
	if d == nil || !d.row.Supported || !d.layout().supported() {
		return nil
	}
	return d
}

// applyStatus merges the reported values that are newer than what was
// applied of their code, and builds the device's and its outlets' States
// from everything known (snapshot, as for a poll). A report of a device
// the provider does not know asks for a new list (a device just added)
// once per device: a device the list then still leaves out is another app
// user's (a project linked to several accounts, user_id naming one), and
// listing again for each of its reports would spend the API quota push is
// there to save (the regular device list and bindUser events still find
// a device added later).
func (p *Provider) applyStatus(m pushMessage, mem *pushMemory) ([]cloud.Update, string) {
	seen := mem.seen
	dataKey := ""
	if m.dataID != "" {
		dataKey = "data/" + m.devID + "/" + m.dataID
		if seen.has(dataKey) {
			return nil, cloud.PushDuplicate
		}
	}
	now := p.now()
	p.mu.Lock()
	d := p.bridgedLocked(m.devID)
	if d == nil {
		_, listed := p.devices[m.devID]
		p.mu.Unlock()
		if !listed && !mem.unlisted.has(m.devID) {
			mem.unlisted.add(m.devID)
			return []cloud.Update{{Kind: cloud.UpdateRelist}}, cloud.PushApplied
		}
		return nil, cloud.PushIgnored
	}
	var fresh []pushItem
	for _, it := range m.items {
		if it.t > 0 && it.t <= d.reportT[it.code] {
			continue // applied before (redelivered, or sent in both protocol families)
		}
		fresh = append(fresh, it)
	}
	if len(fresh) == 0 {
		p.mu.Unlock()
		return nil, cloud.PushDuplicate
	}
	values := maps.Clone(d.values)
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	if d.pushedAt == nil {
		d.pushedAt, d.reportT = map[string]time.Time{}, map[string]int64{}
	}
	var reports []eleReport
	var latest int64
	for _, it := range fresh {
		values[it.code] = it.value
		d.pushedAt[it.code] = now
		if it.t > 0 {
			d.reportT[it.code] = it.t
			latest = max(latest, it.t)
		}
		if it.code == dpAddEle {
			reports = append(reports, eleReport{raw: it.value, t: it.t})
		}
	}
	d.values = values
	d.offline = reachable // a device that reports is online
	v := deviceView{layout: d.layout(), spec: d.spec, online: true, values: values}
	p.mu.Unlock()
	if dataKey != "" {
		seen.add(dataKey)
	}

	at := p.hostTime(latest, now)
	self, outlets := p.snapshot(m.devID, v, reports, false)
	self.ReadAt = at
	updates := []cloud.Update{{Kind: cloud.UpdateState, DeviceID: m.devID, State: self}}
	for _, code := range v.layout.children() {
		st := outlets[code]
		st.ReadAt = at
		updates = append(updates, cloud.Update{Kind: cloud.UpdateState, DeviceID: st.DeviceID, State: st})
	}
	return updates, cloud.PushApplied
}

// applyOnline records a device's connectivity and makes it (and its
// outlets) available or unavailable.
func (p *Provider) applyOnline(m pushMessage, seen *seenSet) ([]cloud.Update, string) {
	online := m.kind == pushOnline
	key := "online/" + m.devID + "/" + strconv.FormatBool(online) + "/" + strconv.FormatInt(m.at, 10)
	if m.at > 0 && seen.has(key) {
		return nil, cloud.PushDuplicate
	}
	p.mu.Lock()
	d := p.bridgedLocked(m.devID)
	if d == nil {
		p.mu.Unlock()
		return nil, cloud.PushIgnored
	}
	if online {
		d.offline = reachable
	} else {
		d.offline = offlineByCloud
	}
	l := d.layout()
	p.mu.Unlock()
	seen.add(key)
	updates := []cloud.Update{{Kind: cloud.UpdateAvailability, DeviceID: m.devID, Online: online}}
	for _, code := range l.children() {
		updates = append(updates, cloud.Update{Kind: cloud.UpdateAvailability, DeviceID: outletID(m.devID, code), Online: online})
	}
	return updates, cloud.PushApplied
}

// applyRename records a device's new name; its outlets are named after
// it.
func (p *Provider) applyRename(m pushMessage) ([]cloud.Update, string) {
	p.mu.Lock()
	d := p.bridgedLocked(m.devID)
	if d == nil {
		p.mu.Unlock()
		return nil, cloud.PushIgnored
	}
	if d.row.Name == m.name {
		p.mu.Unlock()
		return nil, cloud.PushDuplicate
	}
	d.row.Name = m.name
	l := d.layout()
	p.mu.Unlock()
	updates := []cloud.Update{{Kind: cloud.UpdateRename, DeviceID: m.devID, Name: m.name}}
	for _, code := range l.children() {
		updates = append(updates, cloud.Update{Kind: cloud.UpdateRename, DeviceID: outletID(m.devID, code), Name: l.childName(m.name, code)})
	}
	return updates, cloud.PushApplied
}

// hostTime converts a report time (ms on the cloud's clock) to the host
// clock with the transport's estimate of the offset; now when ms is 0 or
// would lie in the future.
func (p *Provider) hostTime(ms int64, now time.Time) time.Time {
	if ms <= 0 {
		return now
	}
	_, off := p.rt.serverNow()
	t := time.UnixMilli(ms).Add(-off)
	if t.After(now) {
		return now
	}
	return t
}
