package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	payloads := [][]byte{
		[]byte("x"),
		bytes.Repeat([]byte("ab"), 1000),
		bytes.Repeat([]byte{7}, 3*frameGrowStep+5), // exercises the growing read
	}
	for _, p := range payloads {
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatalf("WriteFrame(%d bytes): %v", len(p), err)
		}
	}
	// One byte at a time, to prove reads tolerate short reads.
	r := iotest.OneByteReader(&buf)
	for _, want := range payloads {
		got, err := ReadFrame(r, 0)
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("ReadFrame returned %d bytes, want %d", len(got), len(want))
		}
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("ReadFrame at a clean end = %v, want io.EOF", err)
	}
}

func TestWriteFrameRefusesEmpty(t *testing.T) {
	if err := WriteFrame(io.Discard, nil); !errors.Is(err, ErrEmptyFrame) {
		t.Fatalf("WriteFrame(nil) = %v, want ErrEmptyFrame", err)
	}
}

func header(n uint32) []byte {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], n)
	return h[:]
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"oversized", header(1 << 30), 1 << 20, ErrFrameTooLarge},
		{"over default max", header(DefaultMaxFrame + 1), 0, ErrFrameTooLarge},
		{"max uint32", header(0xffffffff), 0, ErrFrameTooLarge},
		{"zero length", header(0), 0, ErrEmptyFrame},
		{"truncated header", []byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{"truncated payload", append(header(10), "abc"...), 0, io.ErrUnexpectedEOF},
		{"truncated large payload", append(header(1<<20), make([]byte, 2*frameGrowStep)...), 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.input), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame = %v, want %v", err, tt.want)
			}
		})
	}
}

// allocatedBytes reports how many bytes fn allocates, measured over a few
// runs so a stray allocation elsewhere does not decide the result.
func allocatedBytes(fn func()) uint64 {
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		fn()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

func TestReadFrameTooLargeDoesNotAllocate(t *testing.T) {
	input := header(DefaultMaxFrame + 1)
	n := allocatedBytes(func() { _, _ = ReadFrame(bytes.NewReader(input), 0) })
	if n > 4096 {
		t.Fatalf("ReadFrame allocated %d bytes per oversized frame", n)
	}
}

func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	// A peer announces 16 MiB and sends 10 bytes: the read must fail
	// without having allocated anything like 16 MiB.
	input := append(header(DefaultMaxFrame), make([]byte, 10)...)
	n := allocatedBytes(func() { _, _ = ReadFrame(bytes.NewReader(input), 0) })
	if n > 2*frameGrowStep {
		t.Fatalf("ReadFrame allocated %d bytes for a 10-byte payload", n)
	}
}
