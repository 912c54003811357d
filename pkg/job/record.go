package job

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// MaxRecordLen bounds a record's key or value length. A reader refuses longer lengths, so a
// corrupt or hostile stream fails with a clear error instead of a huge allocation.
const MaxRecordLen = 256 << 20

// ErrCorruptRecord is wrapped by every error a RecordReader returns for a malformed stream.
var ErrCorruptRecord = errors.New("job: corrupt record stream")

// sameAsKey, written as a value's length, says that the value is the key again: a record whose
// value repeats its key (sort's output: the line is both) is stored once. No real length is this
// large (MaxRecordLen bounds them).
const sameAsKey = MaxRecordLen + 1

// RecordWriter writes records, `uvarint(len key) key uvarint(len value) value`, the format of
// map partials and reduce outputs; a value equal to a key of more than 4 bytes is written as
// `uvarint(sameAsKey)` alone. It buffers: call Flush when done.
type RecordWriter struct {
	w     *bufio.Writer
	count int64
	bytes int64
	hdr   [binary.MaxVarintLen64]byte
}

// NewRecordWriter returns a buffered RecordWriter on w.
func NewRecordWriter(w io.Writer) *RecordWriter {
	return &RecordWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write appends one record. Neither slice is retained.
func (rw *RecordWriter) Write(key, value []byte) error {
	if len(key) > MaxRecordLen || len(value) > MaxRecordLen {
		return fmt.Errorf("record too long: key %d bytes, value %d bytes (max %d)", len(key), len(value), MaxRecordLen)
	}
	n := binary.PutUvarint(rw.hdr[:], uint64(len(key)))
	rw.w.Write(rw.hdr[:n])
	rw.w.Write(key)
	if len(key) > 4 && bytes.Equal(key, value) {
		m := binary.PutUvarint(rw.hdr[:], sameAsKey)
		if _, err := rw.w.Write(rw.hdr[:m]); err != nil {
			return err
		}
		rw.count++
		rw.bytes += int64(n + len(key) + m)
		return nil
	}
	m := binary.PutUvarint(rw.hdr[:], uint64(len(value)))
	rw.w.Write(rw.hdr[:m])
	if _, err := rw.w.Write(value); err != nil { // bufio.Writer errors are sticky
		return err
	}
	rw.count++
	rw.bytes += int64(n + len(key) + m + len(value))
	return nil
}

// Flush writes buffered records to the underlying writer.
func (rw *RecordWriter) Flush() error { return rw.w.Flush() }

// Count returns the number of records written.
func (rw *RecordWriter) Count() int64 { return rw.count }

// Bytes returns the number of bytes written, buffered or not.
func (rw *RecordWriter) Bytes() int64 { return rw.bytes }

// RecordReader reads the records a RecordWriter wrote.
type RecordReader struct {
	r      *bufio.Reader
	key    []byte
	value  []byte
	offset int64 // of the next record, for error messages
}

// NewRecordReader returns a buffered RecordReader on r.
func NewRecordReader(r io.Reader) *RecordReader {
	return newRecordReaderSize(r, 64<<10)
}

// newRecordReaderSize returns a RecordReader with a read buffer of size bytes, for merges of many
// streams where the buffers add up.
func newRecordReaderSize(r io.Reader, size int) *RecordReader {
	return &RecordReader{r: bufio.NewReaderSize(r, size)}
}

// Next returns the next record. It returns io.EOF at the clean end of the stream and an error
// wrapping ErrCorruptRecord for a truncated or malformed record. The slices are valid until the
// next call.
func (rr *RecordReader) Next() (key, value []byte, err error) {
	start := rr.offset
	klen, err := rr.readLen(true)
	if err != nil {
		return nil, nil, rr.fail(start, err)
	}
	rr.key, err = rr.readBytes(rr.key, klen)
	if err != nil {
		return nil, nil, rr.fail(start, err)
	}
	vlen, err := rr.readLen(false)
	if err != nil {
		return nil, nil, rr.fail(start, err)
	}
	if vlen == sameAsKey {
		return rr.key, rr.key, nil
	}
	rr.value, err = rr.readBytes(rr.value, vlen)
	if err != nil {
		return nil, nil, rr.fail(start, err)
	}
	return rr.key, rr.value, nil
}

// readLen reads one length prefix; io.EOF is clean only before a record's first byte.
func (rr *RecordReader) readLen(first bool) (int, error) {
	var n uint64
	for shift := 0; ; shift += 7 {
		b, err := rr.r.ReadByte()
		if err != nil {
			if err == io.EOF && (!first || shift > 0) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		rr.offset++
		if shift > 63 {
			return 0, fmt.Errorf("%w: length prefix overflows", ErrCorruptRecord)
		}
		n |= uint64(b&0x7f) << shift
		if n > MaxRecordLen && (first || n != sameAsKey) {
			return 0, fmt.Errorf("%w: length %d exceeds the maximum %d", ErrCorruptRecord, n, MaxRecordLen)
		}
		if b < 0x80 {
			return int(n), nil
		}
	}
}

// readBytes reads n bytes into buf. A large record's buffer grows with the bytes that actually
// arrive, so a corrupt length cannot make a short stream allocate MaxRecordLen.
func (rr *RecordReader) readBytes(buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		step := n - len(buf)
		if cap(buf) < n {
			step = min(step, max(len(buf), 64<<10))
			buf = slices.Grow(buf, step)
		}
		m, err := io.ReadFull(rr.r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		rr.offset += int64(m)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// fail adds the record's position to err, keeping io.EOF bare for the clean end.
func (rr *RecordReader) fail(start int64, err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: record at byte %d is truncated", ErrCorruptRecord, start)
	default:
		return fmt.Errorf("record at byte %d: %w", start, err)
	}
}
