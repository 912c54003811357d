// Package integrity carries a checksum with every byte dlbp stores or moves: CRC32C (the
// Castagnoli polynomial, computed in hardware where the CPU has it), from where the bytes are
// made to where they are used, so that a bit flipped on a disk or in memory is found by the
// reader instead of becoming a wrong answer.
//
// A checked stream (partials, gathered copies, parts and their copies) is a header, blocks and
// an end:
//
//	"DLC1"                                     the header, once
//	u32 n, u32 crc32c(data), data (n bytes)    a block, 0 < n ≤ MaxBlock
//	u32 0, u32 crc32c(u64 total data bytes)    the end: a stream cut short has none
//
// all integers little-endian. A Reader hands out a block's bytes only once they passed their
// check, so nothing unverified is ever used; a reader that fails in the middle of a stream can
// resume from the failed block's offset on another copy of the same bytes (Resume).
package integrity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Table is the CRC32C table every checksum of dlbp uses.
var Table = crc32.MakeTable(crc32.Castagnoli)

// Sum returns the CRC32C of b.
func Sum(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Update returns the CRC32C of what crc covered followed by b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, Table, b) }

const (
	magic = "DLC1"
	// HeaderSize is the size of the stream's header.
	HeaderSize = int64(len(magic))
	// BlockSize is the data a Writer puts in a block (the last one may hold less).
	BlockSize = 64 << 10
	// MaxBlock bounds a block's data: a longer length is damage, not an allocation.
	MaxBlock    = 1 << 20
	blockHeader = 8
)

// ErrCorrupt is wrapped by every error that reports damaged data.
var ErrCorrupt = errors.New("damaged data")

// CorruptError says which data failed its check, and where.
type CorruptError struct {
	What   string // names the data: "part 2 of job j…", "the partial of map task 7"
	Offset int64  // of the block (or header) that failed, in the stream
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is damaged at byte %d: %s", e.What, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// IsCorrupt reports whether err reports damaged data.
func IsCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// Writer writes a checked stream. Close writes the end; a stream without it reads as cut
// short. Writer buffers a block: it makes no small writes of its own.
type Writer struct {
	w     io.Writer
	buf   []byte // header room, then the block's data
	total uint64
	err   error
}

// NewWriter returns a Writer of a checked stream on w.
func NewWriter(w io.Writer) *Writer {
	iw := &Writer{w: w, buf: make([]byte, blockHeader, blockHeader+BlockSize)}
	_, iw.err = io.WriteString(w, magic)
	return iw
}

// Write adds p to the stream.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && w.err == nil {
		room := blockHeader + BlockSize - len(w.buf)
		k := min(room, len(p))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == blockHeader+BlockSize {
			w.flushBlock()
		}
	}
	return n, w.err
}

// flushBlock writes the buffered block, if it holds data.
func (w *Writer) flushBlock() {
	data := w.buf[blockHeader:]
	if len(data) == 0 || w.err != nil {
		return
	}
	binary.LittleEndian.PutUint32(w.buf[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.buf[4:8], Sum(data))
	_, w.err = w.w.Write(w.buf)
	w.total += uint64(len(data))
	w.buf = w.buf[:blockHeader]
}

// Close writes what is buffered and the end of the stream; it does not close the underlying
// writer.
func (w *Writer) Close() error {
	w.flushBlock()
	if w.err != nil {
		return w.err
	}
	var end [blockHeader + 8]byte
	binary.LittleEndian.PutUint64(end[blockHeader:], w.total)
	binary.LittleEndian.PutUint32(end[4:8], Sum(end[blockHeader:]))
	if _, err := w.w.Write(end[:blockHeader]); err != nil {
		w.err = err
		return err
	}
	w.err = errClosed
	return nil
}

var errClosed = errors.New("integrity: write after Close")

// Reader reads a checked stream and returns its data, each block only once it passed its
// check. A damaged, cut short or malformed stream is a *CorruptError.
type Reader struct {
	r     io.Reader
	what  string
	off   int64  // of the next block's header in the stream (or of the stream's header)
	total uint64 // data bytes handed out
	data  []byte // the current block's verified data not yet read
	buf   []byte
	begun bool // the header was read
	ended bool // the end was read
	err   error
}

// NewReader returns a Reader of the checked stream r; what names the data in errors.
func NewReader(r io.Reader, what string) *Reader {
	return &Reader{r: r, what: what}
}

// Offset is where, in the stream, the block being read begins: a copy of the stream read
// from there by Resume goes on where this one failed.
func (r *Reader) Offset() int64 { return r.off }

// Resume goes on reading from src, which must hold the same stream from Offset on (another
// copy), after an error of the current source. The data already read stays read.
func (r *Reader) Resume(src io.Reader) {
	r.r, r.err = src, nil
}

func (r *Reader) corrupt(reason string, args ...any) error {
	r.err = &CorruptError{What: r.what, Offset: r.off, Reason: fmt.Sprintf(reason, args...)}
	return r.err
}

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.ended {
			return 0, io.EOF
		}
		r.next()
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// next reads and checks the next block (or the header, or the end), leaving its data in
// r.data or an error in r.err.
func (r *Reader) next() {
	if !r.begun {
		var h [HeaderSize]byte
		if _, err := io.ReadFull(r.r, h[:]); err != nil {
			r.fail(err, "no header")
			return
		}
		if string(h[:]) != magic {
			r.corrupt("not a checked stream (header %q)", h[:])
			return
		}
		r.begun, r.off = true, HeaderSize
	}
	var h [blockHeader]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		r.fail(err, "cut short: no end")
		return
	}
	n, sum := binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
	if n == 0 {
		var total [8]byte
		binary.LittleEndian.PutUint64(total[:], r.total)
		if Sum(total[:]) != sum {
			r.corrupt("its end says another length than the %d bytes of its blocks", r.total)
			return
		}
		r.off += blockHeader
		r.ended = true
		var extra [1]byte
		if m, _ := io.ReadFull(r.r, extra[:]); m > 0 {
			r.corrupt("bytes after its end")
		}
		return
	}
	if n > MaxBlock {
		r.corrupt("block of %d bytes (at most %d)", n, MaxBlock)
		return
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n, max(n, BlockSize))
	}
	buf := r.buf[:n]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		r.fail(err, "cut short in a block")
		return
	}
	if Sum(buf) != sum {
		r.corrupt("checksum mismatch in a block of %d bytes", n)
		return
	}
	r.off += blockHeader + int64(n)
	r.total += uint64(n)
	r.data = buf
}

// fail records a read error: the end of the stream where more was due is damage (cut short);
// any other error is the source's own (a lost connection), kept as it is so the caller can try
// another copy.
func (r *Reader) fail(err error, cutShort string) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		r.corrupt("%s", cutShort)
		return
	}
	r.err = err
}

// Copy copies the checked stream src to w as it is (the same bytes: a copy is checked like
// the original) while checking it, and returns the bytes copied. Bytes of a block that fails
// its check may have reached w: the caller drops what it wrote when Copy fails.
func Copy(w io.Writer, src io.Reader, what string) (int64, error) {
	cw := &countingWriter{w: w}
	_, err := io.Copy(io.Discard, NewReader(io.TeeReader(src, cw), what))
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
