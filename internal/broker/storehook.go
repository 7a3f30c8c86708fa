package broker

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// storageHook keeps the broker's retained messages, persistent sessions,
// their subscriptions and queued messages in a bbolt file, in the records
// of mochi's bbolt hook (same bucket, keys and JSON values, so files
// written by earlier versions load), with these differences:
//
//   - changes are written in batches (batchWriter): one transaction for
//     everything that changed within flushDelay instead of one synchronous
//     transaction per message; mochi's hook made every retained publish
//     wait for a disk write (thousands at start with many devices). A
//     crash loses at most the last flushDelay of changes; a clean stop
//     loses nothing;
//   - no $SYS statistics: mochi hands them to storage hooks every second,
//     a write a second for numbers nobody reads back;
//   - queued messages are written only for sessions that outlive their
//     connection (MQTT 3.1.1 clean session off, MQTT 5 session expiry >
//     0), and only outgoing PUBLISH packets: mochi's hook writes, then
//     deletes, a record for every QoS 1/2 message in flight, also for the
//     clean sessions of the bridge and Home Assistant whose queues die
//     with the connection, and for the acknowledgements of incoming
//     messages;
//   - queued messages come back with their packet id: mochi's hook does
//     not store it (only in the record's key), so after a restart every
//     queued message of a session had id 0, they replaced one another
//     and the one left was resent with an invalid id.
//
// Safe for concurrent use: mochi calls hooks from every client goroutine.
type storageHook struct {
	mqtt.HookBase
	db *bbolt.DB
	w  *batchWriter

	mu     sync.Mutex
	queued map[string]bool // inflight records written, by client id + ":" + packet id
}

// newStorageHook returns the hook over an open db whose bucket exists.
func newStorageHook(db *bbolt.DB) *storageHook {
	h := &storageHook{db: db, queued: map[string]bool{}}
	h.w = newBatchWriter(db, stateBucket, flushDelay, func(err error, n int) {
		h.Log.Error("cannot write the broker state file; these changes are lost if the broker stops before they are made again",
			"records", n, "error", err)
	})
	return h
}

// ID names the hook.
func (h *storageHook) ID() string { return "state-file" }

// Provides reports the events the hook handles.
func (h *storageHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage, mqtt.OnWillSent, mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped,
		mqtt.OnClientExpired, mqtt.OnRetainedExpired,
		mqtt.StoredClients, mqtt.StoredInflightMessages, mqtt.StoredRetainedMessages, mqtt.StoredSubscriptions,
	}, []byte{b})
}

// Stop writes what is pending and closes the file.
func (h *storageHook) Stop() error {
	werr := h.w.close()
	if err := h.db.Close(); err != nil {
		return err
	}
	return werr
}

// put records a value (nil deletes the key).
func (h *storageHook) put(key string, rec storage.Serializable) {
	data, err := rec.MarshalBinary()
	if err != nil {
		h.Log.Error("cannot encode a broker state record", "key", key, "error", err)
		return
	}
	h.w.put(key, data)
}

func clientKey(id string) string { return storage.ClientKey + "_" + id }

func subscriptionKey(id, filter string) string {
	return storage.SubscriptionKey + "_" + id + ":" + filter
}

func retainedKey(topic string) string { return storage.RetainedKey + "_" + topic }

func inflightKey(id string, packetID uint16) string {
	return storage.InflightKey + "_" + inflightID(id, packetID)
}

func inflightID(clientID string, packetID uint16) string {
	return clientID + ":" + strconv.FormatUint(uint64(packetID), 10)
}

// OnSessionEstablished stores the client.
func (h *storageHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) { h.putClient(cl) }

// OnWillSent stores the client without the will it sent.
func (h *storageHook) OnWillSent(cl *mqtt.Client, _ packets.Packet) { h.putClient(cl) }

func (h *storageHook) putClient(cl *mqtt.Client) {
	props := cl.Properties.Props.Copy(false)
	h.put(clientKey(cl.ID), &storage.Client{
		ID:              cl.ID,
		T:               storage.ClientKey,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: props.SessionExpiryInterval,
			AuthenticationMethod:  props.AuthenticationMethod,
			AuthenticationData:    props.AuthenticationData,
			RequestProblemInfo:    props.RequestProblemInfo,
			RequestResponseInfo:   props.RequestResponseInfo,
			ReceiveMaximum:        props.ReceiveMaximum,
			TopicAliasMaximum:     props.TopicAliasMaximum,
			User:                  props.User,
			MaximumPacketSize:     props.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	})
}

// OnDisconnect deletes the client when its session ends with the
// connection (not when another connection took the session over).
func (h *storageHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if !expire || cl.StopCause() == packets.ErrSessionTakenOver {
		return
	}
	h.w.put(clientKey(cl.ID), nil)
}

// OnClientExpired deletes an expired session's client.
func (h *storageHook) OnClientExpired(cl *mqtt.Client) { h.w.put(clientKey(cl.ID), nil) }

// OnSubscribed stores the client's new subscriptions.
func (h *storageHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	for i, f := range pk.Filters {
		if i >= len(reasonCodes) {
			break
		}
		key := subscriptionKey(cl.ID, f.Filter)
		h.put(key, &storage.Subscription{
			ID:                key,
			T:                 storage.SubscriptionKey,
			Client:            cl.ID,
			Qos:               reasonCodes[i],
			Filter:            f.Filter,
			Identifier:        f.Identifier,
			NoLocal:           f.NoLocal,
			RetainHandling:    f.RetainHandling,
			RetainAsPublished: f.RetainAsPublished,
		})
	}
}

// OnUnsubscribed deletes the client's subscriptions.
func (h *storageHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	for _, f := range pk.Filters {
		h.w.put(subscriptionKey(cl.ID, f.Filter), nil)
	}
}

// OnRetainMessage stores a retained message, or deletes the topic's when
// r is -1 (an empty retained payload cleared it).
func (h *storageHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	key := retainedKey(pk.TopicName)
	if r == -1 {
		h.w.put(key, nil)
		return
	}
	m := message(key, storage.RetainedKey, cl.ID, pk)
	h.put(key, &m)
}

// OnRetainedExpired deletes an expired retained message.
func (h *storageHook) OnRetainedExpired(topic string) { h.w.put(retainedKey(topic), nil) }

// message is the record of a retained or queued message.
func message(key, kind, clientID string, pk packets.Packet) storage.Message {
	props := pk.Properties.Copy(false)
	return storage.Message{
		ID:          key,
		T:           kind,
		Client:      clientID,
		Origin:      pk.Origin,
		FixedHeader: pk.FixedHeader,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Created:     pk.Created,
		Properties: storage.MessageProperties{
			PayloadFormat:          props.PayloadFormat,
			MessageExpiryInterval:  props.MessageExpiryInterval,
			ContentType:            props.ContentType,
			ResponseTopic:          props.ResponseTopic,
			CorrelationData:        props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier,
			TopicAlias:             props.TopicAlias,
			User:                   props.User,
		},
	}
}

// sessionPersists mirrors mochi's rule for sessions that survive their
// connection (loadClients, attachClient).
func sessionPersists(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// OnQosPublish stores an outgoing QoS 1/2 message of a persistent session.
func (h *storageHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish || !sessionPersists(cl) {
		return
	}
	h.mu.Lock()
	h.queued[inflightID(cl.ID, pk.PacketID)] = true
	h.mu.Unlock()
	key := inflightKey(cl.ID, pk.PacketID)
	m := message(key, storage.InflightKey, cl.ID, pk)
	m.Sent = sent
	h.put(key, &m)
}

// OnQosComplete deletes a stored message once its delivery completed.
func (h *storageHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) { h.forget(cl.ID, pk.PacketID) }

// OnQosDropped deletes a stored message mochi gave up on.
func (h *storageHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) { h.forget(cl.ID, pk.PacketID) }

// forget deletes the record of a queued message, if one was stored.
func (h *storageHook) forget(clientID string, packetID uint16) {
	id := inflightID(clientID, packetID)
	h.mu.Lock()
	stored := h.queued[id]
	delete(h.queued, id)
	h.mu.Unlock()
	if stored {
		h.w.put(inflightKey(clientID, packetID), nil)
	}
}

// StoredClients returns the stored clients.
func (h *storageHook) StoredClients() ([]storage.Client, error) {
	return stored[storage.Client](h, storage.ClientKey)
}

// StoredSubscriptions returns the stored subscriptions.
func (h *storageHook) StoredSubscriptions() ([]storage.Subscription, error) {
	return stored[storage.Subscription](h, storage.SubscriptionKey)
}

// StoredRetainedMessages returns the stored retained messages.
func (h *storageHook) StoredRetainedMessages() ([]storage.Message, error) {
	return stored[storage.Message](h, storage.RetainedKey)
}

// StoredInflightMessages returns the stored queued messages with the
// packet id taken from each record's key ("IFM_<client id>:<packet id>").
func (h *storageHook) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := stored[storage.Message](h, storage.InflightKey)
	out := msgs[:0]
	for _, m := range msgs {
		i := strings.LastIndexByte(m.ID, ':')
		id, perr := strconv.ParseUint(m.ID[i+1:], 10, 16)
		if i < 0 || perr != nil || id == 0 {
			h.Log.Warn("dropping a stored queued message without a packet id", "record", m.ID)
			continue
		}
		m.PacketID = uint16(id)
		out = append(out, m)
		h.mu.Lock()
		h.queued[inflightID(m.Client, m.PacketID)] = true
		h.mu.Unlock()
	}
	return out, err
}

// record is a pointer to a stored record type.
type record[T any] interface {
	*T
	UnmarshalBinary([]byte) error
}

// stored decodes every record of one kind (key prefix kind + "_"), after
// writing what is pending. Records that cannot be decoded are skipped
// (checkStateFile has refused a file holding any).
func stored[T any, P record[T]](h *storageHook, kind string) ([]T, error) {
	if err := h.w.Flush(); err != nil {
		return nil, err
	}
	var out []T
	prefix := []byte(kind + "_")
	err := h.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(stateBucket))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var rec T
			if err := P(&rec).UnmarshalBinary(v); err != nil {
				h.Log.Warn("skipping a broker state record that cannot be read", "record", string(k), "error", err)
				continue
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}
