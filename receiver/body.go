package receiver

import (
	"errors"
	"io"
)

// bodyChunk is the unit a body is read in.
const bodyChunk = 64 << 10

// readChunks reads r to its end in fixed chunks and joins them once at the
// end. Unlike io.ReadAll, which doubles its buffer as it grows and so holds
// about twice the body while copying, a body that ends in an error (over the
// cap, cut off) never costs more than its own size, and the chunks are
// garbage at once.
func readChunks(r io.Reader) ([]byte, error) {
	var chunks [][]byte
	total := 0
	for {
		buf := make([]byte, bodyChunk)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			chunks = append(chunks, buf[:n])
			total += n
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return join(chunks, total), nil
		case err != nil:
			return nil, err
		}
	}
}

func join(chunks [][]byte, total int) []byte {
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}
