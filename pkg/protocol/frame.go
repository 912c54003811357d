package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

// frameHeaderSize is the size of the big-endian uint32 length prefix.
const frameHeaderSize = 4

// frameGrowStep is the largest buffer ReadFrame allocates before the bytes
// have actually arrived; beyond it the buffer grows as data comes in, so a
// peer that announces a large frame and then sends nothing costs little memory.
const frameGrowStep = 64 << 10

// WriteFrame writes payload preceded by its 4-byte big-endian length. On a
// TCP connection the prefix and payload go out in one writev call. An empty
// payload is refused, since ReadFrame would reject it.
func WriteFrame(w io.Writer, payload []byte) error {
	if len(payload) == 0 {
		return ErrEmptyFrame
	}
	if uint64(len(payload)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes cannot be length-prefixed", ErrFrameTooLarge, len(payload))
	}
	var hdr [frameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	bufs := net.Buffers{hdr[:], payload}
	if _, err := bufs.WriteTo(w); err != nil {
		return fmt.Errorf("protocol: writing frame of %d bytes: %w", len(payload), err)
	}
	return nil
}

// ReadFrame reads one frame and returns its payload. max bounds the payload
// size (max <= 0 means DefaultMaxFrame); a larger length prefix gives
// ErrFrameTooLarge without reading or allocating the payload. A clean end of
// stream before the first byte returns io.EOF unwrapped, so callers can tell
// a peer that hung up between frames from one that died in the middle of one
// (io.ErrUnexpectedEOF, wrapped).
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var hdr [frameHeaderSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) && n == 0 {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("protocol: reading frame header (%d of %d bytes): %w", n, frameHeaderSize, err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size == 0 {
		return nil, ErrEmptyFrame
	}
	if uint64(size) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes announced, limit is %d", ErrFrameTooLarge, size, max)
	}
	return readPayload(r, int(size))
}

// readPayload reads exactly n bytes, allocating at most frameGrowStep ahead
// of the data received.
func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, frameGrowStep))
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("protocol: reading frame payload (%d of %d bytes): %w", got, n, err)
		}
		if got == n {
			return buf, nil
		}
		// Once a first step has arrived, the next one holds a whole
		// bulk chunk (the common large frame) in one allocation.
		grown := make([]byte, min(max(2*len(buf), ChunkSize+frameGrowStep), n))
		copy(grown, buf)
		buf = grown
	}
}
