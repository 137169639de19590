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
// garbage at once. declared is the length the request declares, -1 if
// none: a body up to bodyChunk that is as long as it says is read into one
// buffer of its size, which is the body, with nothing to zero or join.
func readChunks(r io.Reader, declared int64) ([]byte, error) {
	var chunks [][]byte
	total := 0
	size := bodyChunk
	if declared >= 0 && declared < bodyChunk {
		size = int(declared)
	}
	for {
		buf := make([]byte, size)
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
		size = bodyChunk
		if int64(total) == declared {
			size = 1 // all that was declared: the end should come next
		}
	}
}

func join(chunks [][]byte, total int) []byte {
	if len(chunks) == 1 && len(chunks[0]) == cap(chunks[0]) {
		return chunks[0]
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}
