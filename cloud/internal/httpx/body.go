package httpx

import (
	"bytes"
	"io"
)

// firstChunk and maxChunk bound the pieces readBody reads into: the first
// holds a typical answer (a device's state, a token) whole.
const (
	firstChunk = 4 << 10
	maxChunk   = 1 << 20
)

// readBody reads r to its end and returns the answer, or over when it is
// longer than limit (then without the bytes: nobody uses them). size is
// the declared length (Content-Length; -1 when unknown): a declared
// length within limit is read into one buffer of that size. Otherwise the
// answer is read into pieces that double from 4 KiB to 1 MiB, joined at
// the end, and an answer over limit stops at limit+1 bytes without being
// joined: cutting one at 4 MiB allocates about 5 MiB, where io.ReadAll of
// a LimitReader allocates 10 MiB (five concurrent giant answers held over
// 40 MiB of heap before the collector caught up), and a typical small
// answer takes one allocation.
func readBody(r io.Reader, limit, size int64) (data []byte, over bool, err error) {
	r = io.LimitReader(r, limit+1)
	if size >= 0 && size <= limit {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil // shorter than declared: what came is the answer
		}
		if err != nil || n < len(buf) {
			return buf[:n], false, err
		}
		// Anything beyond the declared length still counts.
		rest, over, err := readBody(r, limit-size, -1)
		if over {
			return nil, true, err
		}
		return append(buf, rest...), false, err
	}
	var pieces [][]byte
	chunk, total := firstChunk, int64(0)
	for {
		p := make([]byte, chunk)
		n, err := io.ReadFull(r, p)
		pieces = append(pieces, p[:n])
		if total += int64(n); total > limit {
			return nil, true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return bytes.Join(pieces, nil), false, err
		}
		chunk = min(chunk*2, maxChunk)
	}
	if len(pieces) == 1 {
		return pieces[0], false, nil
	}
	return bytes.Join(pieces, nil), false, nil
}
