package httpx

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"testing/iotest"
)

// readBody returns what io.ReadAll returns, or over for an answer longer
// than limit, whatever the length, the declared length (right, unknown or wrong) and
// however the reader splits its data.
func TestReadBody_SameAsReadAll(t *testing.T) {
	const limit = 3 << 20
	for _, n := range []int{0, 1, 100, firstChunk - 1, firstChunk, firstChunk + 1, 3 * firstChunk, maxChunk + 7, limit - 1, limit, limit + 1, limit + maxChunk} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + i>>8)
		}
		want, _ := io.ReadAll(io.LimitReader(bytes.NewReader(data), limit+1))
		for _, size := range []int64{-1, int64(n), int64(n) / 2} {
			for name, r := range map[string]io.Reader{
				"whole":    bytes.NewReader(data),
				"one byte": iotest.OneByteReader(bytes.NewReader(data)),
				"half":     iotest.HalfReader(bytes.NewReader(data)),
			} {
				if name != "whole" && n > 100<<10 {
					continue // slow, and nothing new
				}
				got, over, err := readBody(r, limit, size)
				switch {
				case err != nil:
					t.Errorf("%d bytes (declared %d, %s): %v", n, size, name, err)
				case over != (n > limit):
					t.Errorf("%d bytes (declared %d, %s): over %v", n, size, name, over)
				case !over && !bytes.Equal(got, want):
					t.Errorf("%d bytes (declared %d, %s): got %d bytes, want %d", n, size, name, len(got), len(want))
				}
			}
		}
	}
}

// A reader's error is returned with what came before it.
func TestReadBody_Error(t *testing.T) {
	boom := io.ErrClosedPipe
	r := io.MultiReader(bytes.NewReader(make([]byte, 10000)), iotest.ErrReader(boom))
	got, _, err := readBody(r, 1<<20, -1)
	if err != boom || len(got) != 10000 {
		t.Errorf("got %d bytes, err %v; want 10000 bytes and %v", len(got), err, boom)
	}
}

// BenchmarkReadBody compares readBody with io.ReadAll: bytes allocated
// per answer (B/op) for a device's state, a large device list, and a
// giant answer cut at MaxBody.
func BenchmarkReadBody(b *testing.B) {
	for _, n := range []int{2 << 10, 1 << 20, 50 << 20} {
		data := bytes.Repeat([]byte("A"), n)
		b.Run("readBody/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = readBody(bytes.NewReader(data), MaxBody, -1)
			}
		})
		b.Run("ReadAll/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = io.ReadAll(io.LimitReader(bytes.NewReader(data), MaxBody+1))
			}
		})
	}
}
