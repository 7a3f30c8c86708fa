package broker

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// ErrStateLocked is returned by Start when another process (usually a
// second kasa2mqtt with the same state_dir) holds the state file.
var ErrStateLocked = errors.New("the broker state file is in use by another process")

// errStateDamaged marks a state file that cannot be read back.
var errStateDamaged = errors.New("the broker state file is damaged")

// stateBucket is the bbolt bucket mochi's hook keeps everything in.
const stateBucket = "mochi"

// lockTimeout is how long Start waits for another process to release the
// state file (a variable for tests).
var lockTimeout = 2 * time.Second

// storageHook is mochi's bbolt hook with three changes:
//
//   - no $SYS statistics: mochi hands them to storage hooks every second,
//     which would cost a disk write a second for numbers nobody reads back
//     (we do not restore them);
//   - queued messages are written only for sessions that outlive their
//     connection (MQTT 3.1.1 clean session off, MQTT 5 session expiry >
//     0), and only outgoing PUBLISH packets: mochi's hook writes, then
//     deletes, a record for every QoS 1/2 message in flight, also for the
//     clean sessions of the bridge and Home Assistant whose queues die
//     with the connection, and for the acknowledgements of incoming
//     messages; each is a synchronous disk write;
//   - queued messages come back with their packet id: mochi's hook does
//     not store it (only in the record's key), so after a restart every
//     queued message of a session had id 0, they replaced one another
//     and the one left was resent with an invalid id.
//
// Safe for concurrent use: mochi calls hooks from every client goroutine.
type storageHook struct {
	bolt.Hook

	mu     sync.Mutex
	queued map[string]bool // inflight records written, by client id + ":" + packet id
}

func inflightID(clientID string, packetID uint16) string {
	return clientID + ":" + strconv.FormatUint(uint64(packetID), 10)
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
func (h *storageHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish || !sessionPersists(cl) {
		return
	}
	h.mu.Lock()
	if h.queued == nil {
		h.queued = map[string]bool{}
	}
	h.queued[inflightID(cl.ID, pk.PacketID)] = true
	h.mu.Unlock()
	h.Hook.OnQosPublish(cl, pk, sent, resends)
}

// OnQosComplete deletes a stored message once its delivery completed.
func (h *storageHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if h.forget(cl.ID, pk.PacketID) {
		h.Hook.OnQosComplete(cl, pk)
	}
}

// OnQosDropped deletes a stored message mochi gave up on.
func (h *storageHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if h.forget(cl.ID, pk.PacketID) {
		h.Hook.OnQosDropped(cl, pk)
	}
}

// forget reports whether a record was stored for the message, and drops
// it from the set.
func (h *storageHook) forget(clientID string, packetID uint16) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := inflightID(clientID, packetID)
	if !h.queued[id] {
		return false
	}
	delete(h.queued, id)
	return true
}

// StoredInflightMessages returns the stored queued messages with the
// packet id taken from each record's key ("IFM_<client id>:<packet id>").
func (h *storageHook) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := h.Hook.StoredInflightMessages()
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
		if h.queued == nil {
			h.queued = map[string]bool{}
		}
		h.queued[inflightID(m.Client, m.PacketID)] = true
		h.mu.Unlock()
	}
	return out, err
}

// Provides reports the events the hook handles: all of bolt.Hook's but the
// $SYS statistics.
func (h *storageHook) Provides(b byte) bool {
	if b == mqtt.OnSysInfoTick || b == mqtt.StoredSysInfo {
		return false
	}
	return h.Hook.Provides(b)
}

// addStorage attaches the bbolt storage hook on path to srv. A file that
// cannot be read back is moved aside (path.damaged-<time>) with an error
// log, so the broker starts empty rather than not at all; a file locked by
// another process is an ErrStateLocked error.
func addStorage(srv *mqtt.Server, path string, log *zap.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("broker: state directory: %w", err)
	}
	if err := checkStateFile(path); err != nil {
		if errors.Is(err, ErrStateLocked) {
			return lockedError(path)
		}
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return fmt.Errorf("broker: state file %s: %w (and it cannot be moved aside: %v)", path, err, rerr)
		}
		log.Error("the broker state file cannot be read: moved it aside, the broker starts without the retained messages and sessions it held",
			zap.String("file", path), zap.String("moved_to", aside), zap.Error(err))
	}
	err := srv.AddHook(new(storageHook), &bolt.Options{
		Path:    path,
		Bucket:  stateBucket,
		Options: &bbolt.Options{Timeout: lockTimeout},
	})
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return lockedError(path)
	case err != nil:
		return fmt.Errorf("broker: state file %s: %w", path, err)
	}
	return nil
}

func lockedError(path string) error {
	return fmt.Errorf("broker: state file %s: %w (is another kasa2mqtt running with the same state_dir?)", path, ErrStateLocked)
}

// checkStateFile opens path (if it exists) and reads every record the way
// mochi will at start, so that damage is found before the broker depends
// on it. It returns ErrStateLocked when another process holds the file,
// an error wrapping errStateDamaged when it cannot be read back, or nil.
func checkStateFile(path string) (err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, ReadOnly: true})
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return ErrStateLocked
	case err != nil:
		return fmt.Errorf("%w: %w", errStateDamaged, err)
	}
	defer db.Close()
	defer func() { // bbolt panics on some damaged pages
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errStateDamaged, r)
		}
	}()
	return db.View(func(tx *bbolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("%w: %w", errStateDamaged, cerr)
		}
		b := tx.Bucket([]byte(stateBucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if err := decodeRecord(k, v); err != nil {
				return fmt.Errorf("%w: record %q: %w", errStateDamaged, k, err)
			}
			return nil
		})
	})
}

// decodeRecord decodes one stored value as the type its key prefix names.
func decodeRecord(key, value []byte) error {
	var rec encoding.BinaryUnmarshaler
	switch prefix, _, _ := bytes.Cut(key, []byte("_")); string(prefix) {
	case storage.ClientKey:
		rec = new(storage.Client)
	case storage.SubscriptionKey:
		rec = new(storage.Subscription)
	case storage.RetainedKey, storage.InflightKey:
		rec = new(storage.Message)
	case storage.SysInfoKey:
		rec = new(storage.SystemInfo)
	default: // mochi reads back only the kinds above
		return nil
	}
	return rec.UnmarshalBinary(value)
}
