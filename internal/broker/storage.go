package broker

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// ErrStateLocked is returned by Start when another process (usually a
// second kasa2mqtt with the same state_dir) holds the state file.
var ErrStateLocked = errors.New("the broker state file is in use by another process")

// errStateDamaged marks a state file that cannot be read back.
var errStateDamaged = errors.New("the broker state file is damaged")

// stateBucket is the bbolt bucket every record is kept in (the name
// mochi's own bbolt hook used).
const stateBucket = "mochi"

// lockTimeout is how long Start waits for another process to release the
// state file (a variable for tests).
var lockTimeout = 2 * time.Second

// addStorage attaches the bbolt storage hook on path to srv. A file that
// cannot be read back is moved aside (path.damaged-<time>) with an error
// log, so the broker starts empty rather than not at all; a file locked by
// another process is an ErrStateLocked error.
func addStorage(srv *mqtt.Server, path string, log *zap.Logger) (*storageHook, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("broker: state directory: %w", err)
	}
	if err := checkStateFile(path); err != nil {
		if errors.Is(err, ErrStateLocked) {
			return nil, lockedError(path)
		}
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("broker: state file %s: %w (and it cannot be moved aside: %v)", path, err, rerr)
		}
		log.Error("the broker state file cannot be read: moved it aside, the broker starts without the retained messages and sessions it held",
			zap.String("file", path), zap.String("moved_to", aside), zap.Error(err))
	}
	db, err := openStateFile(path)
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return nil, lockedError(path)
	case err != nil:
		return nil, fmt.Errorf("broker: state file %s: %w", path, err)
	}
	h := newStorageHook(db)
	if err := srv.AddHook(h, nil); err != nil {
		_ = h.Stop()
		return nil, fmt.Errorf("broker: state file %s: %w", path, err)
	}
	return h, nil
}

// openStateFile opens (or creates, mode 0600) the bbolt file with the
// bucket the records live in. The free page list is not written at every
// transaction (bbolt rebuilds it when it opens the file), which halves what
// a small transaction writes.
func openStateFile(path string) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(stateBucket))
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
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
