package job

import (
	"bytes"
	"fmt"
	"io"
)

// Limits of SampleLines: how far past an offset it looks for the next line, and how much of a
// sampled line it keeps (a prefix is as good a boundary as the whole line).
const (
	maxSampleSkip = 64 << 10
	maxSampleLine = 4 << 10
)

// SampleLines returns about n lines of a document of size bytes, taken at evenly spaced offsets:
// from each offset it skips to the next '\n' and takes the line after it (the document's first
// line for offset 0), cut to 4 KiB. An offset with no '\n' in the 64 KiB after it, or that lands
// on a line already taken, gives no sample. It reads O(n) small pieces, never the whole document,
// so a caller can sample stored input cheaply before it runs a range-partitioned job (see
// Sampler). The lines are copies, in document order.
func SampleLines(r io.ReaderAt, size int64, n int) ([][]byte, error) {
	if n < 1 || size <= 0 {
		return nil, nil
	}
	buf := make([]byte, maxSampleLine)
	var sample [][]byte
	last := int64(-1) // start of the last line taken
	for i := range int64(n) {
		off := size/int64(n)*i + size%int64(n)*i/int64(n) // i*size/n without overflow
		start, window, err := nextLineStart(r, buf, off, size)
		if err != nil {
			return nil, err
		}
		if start < 0 || start >= size || start == last {
			continue
		}
		last = start
		line := window
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		} else if int64(len(line)) < size-start && len(line) < maxSampleLine {
			// The line goes on past the window: read it again from its start, up to the cap.
			k, err := readAtMost(r, buf, start, size)
			if err != nil {
				return nil, err
			}
			line = buf[:k]
			if j := bytes.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
		}
		sample = append(sample, bytes.Clone(line))
	}
	return sample, nil
}

// sampleWindow is how much SampleLines reads at a time when it looks for a line: a few of the
// lines of ordinary text.
const sampleWindow = 512

// nextLineStart returns the start of the first line that begins after off (0 for off 0), or -1
// when no '\n' ends within maxSampleSkip bytes of off, with what follows that start in the last
// window read (possibly nothing, valid until buf is used again).
func nextLineStart(r io.ReaderAt, buf []byte, off, size int64) (int64, []byte, error) {
	if off == 0 {
		k, err := readAtMost(r, buf[:sampleWindow], 0, size)
		return 0, buf[:k], err
	}
	for pos := off - 1; pos < size && pos-off < maxSampleSkip; {
		k, err := readAtMost(r, buf[:sampleWindow], pos, size)
		if err != nil {
			return 0, nil, err
		}
		if j := bytes.IndexByte(buf[:k], '\n'); j >= 0 {
			return pos + int64(j) + 1, buf[j+1 : k], nil
		}
		pos += int64(k)
	}
	return -1, nil, nil
}

// readAtMost reads up to len(buf) bytes at off, stopping at size.
func readAtMost(r io.ReaderAt, buf []byte, off, size int64) (int, error) {
	want := int(min(int64(len(buf)), size-off))
	k, err := r.ReadAt(buf[:want], off)
	if k == want {
		return k, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return 0, fmt.Errorf("sampling lines at byte %d: %w", off, err)
}
