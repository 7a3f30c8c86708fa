package tuyatest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The message service (Tuya's Pulsar service in its WebSocket form,
// reference §6.3), as the fake simulates it for each project:
//
//   - A consumer connects to ws://<host>/ws/v2/consumer/persistent/
//     {accessId}/out/event/{accessId}-sub?ackTimeoutMillis=…&
//     subscriptionType=Failover with the headers username (the Access ID)
//     and password (md5hex(accessId + md5hex(secret))[8:24]). A wrong
//     path, query, username or password answers HTTP 401; a project
//     whose message service is off (SetMessageService) HTTP 403.
//   - The first connection creates the subscription; from then on, every
//     change of a device of the project is published to it, also while no
//     consumer is connected, and kept until acknowledged. One consumer is
//     active at a time (Failover): a new connection replaces the old one.
//   - A message is delivered as {"messageId","payload","properties",
//     "publishTime","redeliveryCount","key"}; payload is the base64 of
//     {"protocol","pv","t","data","sign"} where data is the business JSON
//     encrypted with the secret's characters 8..23: AES-ECB with PKCS#7
//     padding, or AES-GCM (12-byte nonce, ciphertext, 16-byte tag; the
//     property em = "aes_gcm") after SetPushEncryption. The consumer
//     acknowledges with {"messageId"}; a message not acknowledged within
//     ackTimeoutMillis (or SetAckTimeout) is delivered again, with
//     redeliveryCount raised, and so is every unacknowledged message on a
//     new connection.
//   - Published: switch changes (SetSwitch: a button or the app; and
//     accepted commands), power changes (SetPower), the energy of Tick as
//     one add_ele report (taken from what the next status read would have
//     reported), online/offline (SetOnline), renames (RenameDevice),
//     removals (RemoveDevice) and devices added (bindUser). Legacy
//     protocols 4 and 20 by default; SetPushProtocols adds or switches to
//     the IoT Core protocols 1000 and 1001 (both: every change twice).
//   - Every report carries a report time t, strictly increasing per
//     project; the sign field is a fixed stand-in (its recipe is not
//     documented).

// Garbage is a kind of unusable message SendGarbage delivers.
type Garbage int

const (
	// GarbageBadBase64 has a payload that is not base64.
	GarbageBadBase64 Garbage = iota + 1
	// GarbageWrongKey has data encrypted with another key.
	GarbageWrongKey
	// GarbageTruncatedGCM has AES-GCM data shorter than its nonce and tag.
	GarbageTruncatedGCM
	// GarbageUnknownProtocol is a well-formed message of protocol 99.
	GarbageUnknownProtocol
	// GarbageHuge is a frame of 1 MiB.
	GarbageHuge
)

// MessageStats counts a project's message service activity.
type MessageStats struct {
	// Published counts messages published to the subscription (garbage
	// included).
	Published int
	// Delivered counts deliveries, first ones and redeliveries.
	Delivered int
	// Redelivered counts deliveries of a message delivered before.
	Redelivered int
	// Acked counts acknowledgements that removed a message.
	Acked int
	// Pending is how many messages wait for an acknowledgement.
	Pending int
	// Connections counts accepted consumer connections.
	Connections int
	// Pings counts keep-alive pings answered.
	Pings int
	// HungUp counts connections accepted and closed at once (HangUpPush).
	HungUp int
}

// msgService is one project's message service.
type msgService struct {
	disabled   bool
	subscribed bool
	gcm        bool
	legacy     bool
	iotCore    bool
	ackTimeout time.Duration // SetAckTimeout; 0: the consumer's
	ignoreAcks int
	stalled    bool
	hangUp     bool // HangUpPush
	queue      []*queued
	conn       *consumerConn
	// handshakes counts accepted connections not registered yet;
	// dropPending drops the next one registered (DropPushConnection
	// during a handshake).
	handshakes  int
	dropPending bool
	seq         int
	lastT       int64
	stats       MessageStats
}

// queued is a published message waiting for its acknowledgement.
type queued struct {
	id         string
	payload    string // base64, as delivered
	gcm        bool
	deliveries int
	sentAt     time.Time // zero: not delivered on the current connection
}

// svc returns the project's message service, creating it.
func (s *Server) svc(accessID string) *msgService {
	p := s.mustProject(accessID)
	if p.msg == nil {
		p.msg = &msgService{legacy: true}
	}
	return p.msg
}

// PushURL returns the message service's address, e.g.
// "ws://127.0.0.1:41234", to use as a tuya account's push_url.
func (s *Server) PushURL() string { return "ws" + strings.TrimPrefix(s.ts.URL, "http") }

// SetMessageService turns a project's message service on (the default) or
// off: while off, consumers are refused (HTTP 403), a connected one is
// dropped and nothing is published.
func (s *Server) SetMessageService(accessID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.svc(accessID)
	m.disabled = !on
	if !on {
		m.subscribed, m.queue = false, nil
		if m.conn != nil {
			m.conn.close()
			m.conn = nil
		}
	}
}

// SetPushEncryption makes the project's messages AES-GCM (gcm) or AES-ECB
// (the default) encrypted.
func (s *Server) SetPushEncryption(accessID string, gcm bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.svc(accessID).gcm = gcm
}

// SetPushProtocols chooses the protocol families published: legacy (4,
// 20; the default) and/or IoT Core (1000, 1001). With both, every change
// is published twice, as Tuya warns.
func (s *Server) SetPushProtocols(accessID string, legacy, iotCore bool) {
	if !legacy && !iotCore {
		panic("tuyatest: SetPushProtocols with no protocol family")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.svc(accessID)
	m.legacy, m.iotCore = legacy, iotCore
}

// SetAckTimeout replaces the consumer's ackTimeoutMillis (0: use it).
func (s *Server) SetAckTimeout(accessID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.svc(accessID).ackTimeout = d
	s.svc(accessID).kick()
}

// IgnoreAcks makes the service ignore the next n acknowledgements, as if
// they were lost: those messages are delivered again.
func (s *Server) IgnoreAcks(accessID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.svc(accessID).ignoreAcks = n
}

// DropPushConnection closes the consumer's connection abruptly (no
// WebSocket close), as a network failure would; a connection still in its
// handshake is closed as soon as it is established.
func (s *Server) DropPushConnection(accessID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.svc(accessID)
	if m.conn != nil {
		m.conn.close()
		m.conn = nil
	} else if m.handshakes > 0 {
		m.dropPending = true
	}
}

// HangUpPush makes the message service, while on, accept every consumer
// connection and close it at once: a flapping connection, as from a
// service that takes the handshake and then hangs up.
func (s *Server) HangUpPush(accessID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.svc(accessID).hangUp = on
}

// StallPush makes the connection go silent while on: nothing is
// delivered, pings are not answered and acknowledgements are ignored, but
// the connection stays open. Messages published meanwhile are kept.
func (s *Server) StallPush(accessID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.svc(accessID)
	m.stalled = on
	m.kick()
}

// PushConnected reports whether a consumer is connected to the project.
func (s *Server) PushConnected(accessID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svc(accessID).conn != nil
}

// PushStats returns the project's message service counters.
func (s *Server) PushStats(accessID string) MessageStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.svc(accessID)
	st := m.stats
	st.Pending = len(m.queue)
	return st
}

// SendGarbage publishes one unusable message of the given kind.
func (s *Server) SendGarbage(accessID string, kind Garbage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(accessID)
	m := s.svc(accessID)
	if !m.subscribed {
		panic("tuyatest: SendGarbage before a consumer subscribed")
	}
	t := m.nextT(s.now())
	data := mustJSON(map[string]any{"devId": "bf0000000000000000", "status": []any{}})
	switch kind {
	case GarbageBadBase64:
		m.enqueue("!!! this is not base64 !!!", false)
	case GarbageWrongKey:
		wrong := []byte("0123456789abcdef")
		m.enqueue(envelope(protoStatusLegacy, t, seal(data, wrong, m.gcm, m.seq), accessID), m.gcm)
	case GarbageTruncatedGCM:
		m.enqueue(envelope(protoStatusLegacy, t, []byte("short data"), accessID), true)
	case GarbageUnknownProtocol:
		m.enqueue(envelope(99, t, seal(data, key(p.secret), m.gcm, m.seq), accessID), m.gcm)
	case GarbageHuge:
		m.enqueue(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 3<<18))), false)
	default:
		panic(fmt.Sprintf("tuyatest: unknown garbage kind %d", kind))
	}
}

// RenameDevice renames a device, as the app would.
func (s *Server) RenameDevice(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.mustDevice(id)
	d.name = name
	s.publishEvent(d, "nameUpdate", "deviceNameUpdate", map[string]any{"name": name})
}

// Protocol numbers the fake publishes.
const (
	protoStatusLegacy = 4
	protoEventLegacy  = 20
	protoProperties   = 1000
	protoDevice       = 1001
)

// nextT is the next report time: now, strictly after the last one.
func (m *msgService) nextT(now time.Time) int64 {
	t := max(now.UnixMilli(), m.lastT+1)
	m.lastT = t
	return t
}

// live reports whether messages are published (a consumer subscribed).
func (m *msgService) live() bool { return m != nil && m.subscribed && !m.disabled }

func (m *msgService) enqueue(payload string, gcm bool) {
	m.seq++
	id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("CAEQ%d:%d:-1", m.seq, m.seq)))
	m.queue = append(m.queue, &queued{id: id, payload: payload, gcm: gcm})
	m.stats.Published++
	m.kick()
}

// kick wakes the connection's delivery loop.
func (m *msgService) kick() {
	if m.conn != nil {
		select {
		case m.conn.wake <- struct{}{}:
		default:
		}
	}
}

// publishStatus publishes data point reports of d (s.mu held).
func (s *Server) publishStatus(d *device, values []dpValue) {
	p := s.projects[d.project]
	m := p.msg
	if !m.live() || len(values) == 0 || key(p.secret) == nil {
		return
	}
	t := m.nextT(s.now())
	dataID := hash(fmt.Sprintf("data/%s/%d", d.id, t))[:24]
	if m.legacy {
		var status []any
		for _, v := range values {
			status = append(status, map[string]any{"code": v.Code, "value": v.Value, "t": t, dpID(d, v.Code): fmt.Sprint(v.Value)})
		}
		data := mustJSON(map[string]any{"dataId": dataID, "devId": d.id, "productKey": d.productID, "status": status})
		m.enqueue(envelope(protoStatusLegacy, t, seal(data, key(p.secret), m.gcm, m.seq), d.project), m.gcm)
	}
	if m.iotCore {
		var props []any
		for _, v := range values {
			dp, _ := strconv.Atoi(dpID(d, v.Code))
			props = append(props, map[string]any{"code": v.Code, "dpId": dp, "time": t, "value": v.Value})
		}
		data := mustJSON(map[string]any{"bizCode": "devicePropertyMessage", "ts": t,
			"bizData": map[string]any{"devId": d.id, "productId": d.productID, "dataId": dataID, "properties": props}})
		m.enqueue(envelope(protoProperties, t, seal(data, key(p.secret), m.gcm, m.seq), d.project), m.gcm)
	}
}

// publishEvent publishes a device event (s.mu held): legacy bizCode and
// IoT Core bizCode, with extra bizData.
func (s *Server) publishEvent(d *device, legacyCode, iotCode string, extra map[string]any) {
	p := s.projects[d.project]
	m := p.msg
	if !m.live() || key(p.secret) == nil {
		return
	}
	t := m.nextT(s.now())
	if m.legacy {
		biz := map[string]any{"time": t}
		for k, v := range extra {
			biz[k] = v
		}
		data := mustJSON(map[string]any{"devId": d.id, "productKey": d.productID, "bizCode": legacyCode, "bizData": biz})
		m.enqueue(envelope(protoEventLegacy, t, seal(data, key(p.secret), m.gcm, m.seq), d.project), m.gcm)
	}
	if m.iotCore {
		biz := map[string]any{"devId": d.id, "productId": d.productID, "time": t}
		for k, v := range extra {
			biz[k] = v
		}
		data := mustJSON(map[string]any{"bizCode": iotCode, "bizData": biz, "ts": t})
		m.enqueue(envelope(protoDevice, t, seal(data, key(p.secret), m.gcm, m.seq), d.project), m.gcm)
	}
}

// dpID is the data point number of a code, as newer plugs number them
// (reference §5.5): switch_N 1..N, add_ele 17, cur_current 18, cur_power
// 19, cur_voltage 20; "switch" 1; a light's as its kind numbers them.
func dpID(d *device, code string) string {
	switch code {
	case "add_ele":
		return "17"
	case "cur_current":
		return "18"
	case "cur_power":
		return "19"
	case "cur_voltage":
		return "20"
	}
	for i, c := range d.codes {
		if c == code {
			return strconv.Itoa(i + 1)
		}
	}
	if d.light != nil {
		if p, ok := d.light.dp(code); ok {
			return strconv.Itoa(p.id)
		}
	}
	return "101"
}

// envelope builds the base64 payload {"protocol","pv","t","data","sign"}.
func envelope(protocol int, t int64, data []byte, accessID string) string {
	b64 := base64.StdEncoding.EncodeToString(data)
	sum := md5.Sum([]byte(accessID + "/" + b64))
	payload := mustJSON(map[string]any{"protocol": protocol, "pv": "2.0", "t": t, "data": b64, "sign": hex.EncodeToString(sum[:])})
	return base64.StdEncoding.EncodeToString(payload)
}

// key is the data key of a secret: its characters 8..23; nil when it is
// too short.
func key(secret string) []byte {
	if len(secret) < 24 {
		return nil
	}
	return []byte(secret[8:24])
}

// seal encrypts data with k: AES-GCM with a nonce derived from seq
// (nonce, ciphertext, tag), or AES-ECB with PKCS#7 padding.
func seal(data, k []byte, gcm bool, seq int) []byte {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(fmt.Sprintf("tuyatest: %v", err))
	}
	if gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic(fmt.Sprintf("tuyatest: %v", err))
		}
		nonceHex := hash(fmt.Sprintf("nonce/%d", seq))
		nonce, _ := hex.DecodeString(nonceHex[:24])
		return aead.Seal(nonce, nonce, data, nil)
	}
	pad := aes.BlockSize - len(data)%aes.BlockSize
	plain := append(append([]byte(nil), data...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, len(plain))
	for i := 0; i < len(plain); i += aes.BlockSize {
		block.Encrypt(out[i:i+aes.BlockSize], plain[i:i+aes.BlockSize])
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tuyatest: encode: %v", err))
	}
	return b
}
