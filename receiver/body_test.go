package receiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

func TestReadChunks(t *testing.T) {
	for _, n := range []int{0, 1, 7 << 10, bodyChunk - 1, bodyChunk, bodyChunk + 1, 5*bodyChunk + 7} {
		body := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		// The declared length: none, right, too short, too long.
		for _, declared := range []int64{-1, int64(n), int64(n / 2), int64(n + 3)} {
			got, err := readChunks(bytes.NewReader(body), declared)
			if err != nil || !bytes.Equal(got, body) || cap(got) != n {
				t.Errorf("%d bytes, %d declared: got %d bytes (cap %d), %v", n, declared, len(got), cap(got), err)
			}
		}
	}
	cut := io.MultiReader(bytes.NewReader(make([]byte, bodyChunk+5)), iotest.ErrReader(errors.New("cut")))
	if _, err := readChunks(cut, bodyChunk+10); err == nil {
		t.Error("a read error was not returned")
	}
}

// BenchmarkReadBody reads a 7 KB body as a delivery's is read: under
// MaxBytesReader, with and without its declared length.
func BenchmarkReadBody(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789"), 700)
	for _, declared := range []int64{-1, int64(len(body))} {
		b.Run(fmt.Sprintf("declared=%d", declared), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), 1<<20)
				if got, err := readChunks(r, declared); err != nil || len(got) != len(body) {
					b.Fatal(err)
				}
			}
		})
	}
}
