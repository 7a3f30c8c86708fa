package broker

import (
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// flushDelay is how long the state file's writer collects changes before
// it writes them in one transaction: the most a crash (power loss, kill -9)
// can lose of what the broker had acknowledged. A variable for tests.
var flushDelay = 100 * time.Millisecond

// batchWriter writes records to one bbolt bucket in batches: put records
// the newest value of a key (nil deletes it) and returns at once; a
// goroutine writes everything collected in one transaction flushDelay
// after the first change of a batch. Each transaction is atomic, so the
// file always holds the broker's state as it was at some moment, at most
// flushDelay (plus the time a write takes) behind; close writes what is
// left. Safe for concurrent use.
type batchWriter struct {
	db     *bbolt.DB
	bucket []byte
	delay  time.Duration
	// fail receives the error of a transaction that could not be written
	// (its changes are lost; the next batch tries again with its own).
	fail func(err error, records int)

	mu      sync.Mutex
	pending map[string][]byte // key -> newest value, nil to delete
	closed  bool

	kick     chan struct{} // a batch started
	stop     chan struct{} // close or abandon called
	stopOnce sync.Once
	done     chan struct{} // run returned
	// writing serialises flushes (run's and Flush's).
	writing sync.Mutex
}

func newBatchWriter(db *bbolt.DB, bucket string, delay time.Duration, fail func(error, int)) *batchWriter {
	w := &batchWriter{db: db, bucket: []byte(bucket), delay: delay, fail: fail, pending: map[string][]byte{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// put records value for key (nil: delete the key). After close it does
// nothing.
func (w *batchWriter) put(key string, value []byte) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	first := len(w.pending) == 0
	w.pending[key] = value
	w.mu.Unlock()
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// run writes a batch flushDelay after its first change, until close.
func (w *batchWriter) run() {
	defer close(w.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		t.Reset(w.delay)
		select {
		case <-w.stop:
			t.Stop()
			return
		case <-t.C:
		}
		_ = w.Flush()
	}
}

// Flush writes everything recorded so far in one transaction and returns
// its error (also reported to fail).
func (w *batchWriter) Flush() error {
	w.writing.Lock()
	defer w.writing.Unlock()
	w.mu.Lock()
	batch := w.pending
	if len(batch) > 0 {
		w.pending = make(map[string][]byte, len(batch))
	}
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := w.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(w.bucket)
		if err != nil {
			return err
		}
		for k, v := range batch {
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil && w.fail != nil {
		w.fail(err, len(batch))
	}
	return err
}

// close stops the goroutine and writes what is left; later puts are
// ignored. It returns the last write's error. Idempotent.
func (w *batchWriter) close() error {
	w.halt(false)
	return w.Flush()
}

// abandon stops the goroutine and drops what was not written yet, as a
// crash would (for tests).
func (w *batchWriter) abandon() { w.halt(true) }

func (w *batchWriter) halt(drop bool) {
	w.mu.Lock()
	w.closed = true
	if drop {
		w.pending = map[string][]byte{}
	}
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}
