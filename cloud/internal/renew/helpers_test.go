package renew

import (
	"runtime"
	"time"
)

// waitABit yields while a goroutine of the test gets going.
func waitABit() {
	runtime.Gosched()
	time.Sleep(time.Millisecond)
}

// waitForWaiters returns once n callers are blocked waiting for f's
// running renewal.
func waitForWaiters(f *Flight, n int) {
	for {
		f.mu.Lock()
		w := f.waiters
		f.mu.Unlock()
		if w >= n {
			return
		}
		waitABit()
	}
}
