package broker

import (
	"bytes"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// packetLimitHook announces the maximum packet size in the CONNACK of
// MQTT 5 clients (mochi enforces the limit but does not announce it), so
// that they refuse an oversized publish themselves with a clear error
// instead of losing their connection: mochi closes the connection of a
// client whose packet is too large without a DISCONNECT.
type packetLimitHook struct {
	mqtt.HookBase
	max uint32
}

// ID names the hook.
func (h *packetLimitHook) ID() string { return "packet-limit" }

// Provides reports that the hook edits outgoing packets.
func (h *packetLimitHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketEncode}, []byte{b})
}

// OnPacketEncode adds Maximum Packet Size to MQTT 5 CONNACKs.
func (h *packetLimitHook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ProtocolVersion == 5 && pk.Properties.MaximumPacketSize == 0 {
		pk.Properties.MaximumPacketSize = h.max
	}
	return pk
}
