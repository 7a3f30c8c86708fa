package broker

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// packetIDHook keeps a client's own packet ids apart from the ids of the
// messages the broker is delivering to it.
//
// MQTT gives each direction of a connection its own packet ids. mochi
// keeps both in one table per client, so a client reusing an id that the
// broker has in flight towards it (paho and mosquitto clients number from
// 1, and so does mochi for the queue of a resumed persistent session) had
// its SUBSCRIBE or UNSUBSCRIBE refused with 0x91 ("packet identifier in
// use", even under MQTT 3.1.1, which has no such code), and its QoS 1 or
// 2 PUBLISH deleted the queued message it collided with: that message was
// never delivered.
//
// Before mochi handles such a packet, the broker's message moves to a
// free id, and the client's acknowledgement of the old id (PUBACK, or
// PUBREC for QoS 2) is taken as one of the new id. A message not
// acknowledged before the client disconnects is sent again under the new
// id at its next connection: never lost, at most received twice, as QoS 1
// allows. Only messages not yet acknowledged at all move: a QoS 2 message
// past PUBREC keeps its id. The stored copy of a moved message
// (persistence) keeps its old id: after a broker restart it may be
// delivered once more.
//
// It is safe for concurrent use: mochi calls it from each client's reader.
type packetIDHook struct {
	mqtt.HookBase

	mu    sync.Mutex
	moved map[*mqtt.Client]map[uint16]uint16 // old id → new id, per connection
}

// ID names the hook.
func (h *packetIDHook) ID() string { return "packet-ids" }

// Provides reports that the hook looks at incoming packets and at
// disconnections.
func (h *packetIDHook) Provides(b byte) bool {
	return b == mqtt.OnPacketRead || b == mqtt.OnDisconnect
}

// OnPacketRead moves the broker's in-flight message out of the way of an
// incoming packet that carries the same id, and turns acknowledgements of
// a moved message's old id into ones of its new id. It never refuses a
// packet.
func (h *packetIDHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.PacketID == 0 || cl.Net.Inline {
		return pk, nil
	}
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec:
		if _, held := cl.State.Inflight.Get(pk.PacketID); !held {
			if id, ok := h.take(cl, pk.PacketID); ok {
				pk.PacketID = id
			}
		}
		return pk, nil
	case packets.Subscribe, packets.Unsubscribe:
	case packets.Publish:
		if pk.FixedHeader.Qos == 0 {
			return pk, nil
		}
	default:
		return pk, nil
	}
	out, ok := cl.State.Inflight.Get(pk.PacketID)
	if !ok || out.FixedHeader.Type != packets.Publish {
		return pk, nil // free, or an incoming QoS 2 exchange: mochi's to judge
	}
	id, err := cl.NextPacketID()
	if err != nil {
		return pk, nil // every id in use: nowhere to move it
	}
	old := out.PacketID
	out.PacketID = uint16(id)
	cl.State.Inflight.Set(out)
	cl.State.Inflight.Delete(old)
	h.mu.Lock()
	if h.moved == nil {
		h.moved = map[*mqtt.Client]map[uint16]uint16{}
	}
	if h.moved[cl] == nil {
		h.moved[cl] = map[uint16]uint16{}
	}
	h.moved[cl][old] = out.PacketID
	h.mu.Unlock()
	return pk, nil
}

// take returns and forgets the new id of cl's message moved from old.
func (h *packetIDHook) take(cl *mqtt.Client, old uint16) (uint16, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.moved[cl][old]
	if ok {
		delete(h.moved[cl], old)
		if len(h.moved[cl]) == 0 {
			delete(h.moved, cl)
		}
	}
	return id, ok
}

// OnDisconnect forgets the connection's moves: its next connection
// receives the moved messages under their new ids.
func (h *packetIDHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.moved, cl)
	h.mu.Unlock()
}
