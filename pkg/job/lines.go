package job

import (
	"bufio"
	"io"
)

// ForEachLine calls fn for every line of r, numbering them from firstLine. Lines are split on
// '\n' only: the '\n' is not part of the line, a '\r' before it is kept, and a last line without
// '\n' is still a line (so "" has no lines and "a\n\n" has two). Lines may be of any length. The
// slice is valid only during fn; an error from fn stops the loop and is returned.
func ForEachLine(r io.Reader, firstLine int64, fn func(lineNo int64, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // accumulates a line longer than br's buffer
	lineNo := firstLine
	for {
		chunk, err := br.ReadSlice('\n')
		switch err {
		case nil:
			line := chunk[:len(chunk)-1]
			if len(long) > 0 {
				long = append(long, line...)
				line, long = long, long[:0]
			}
			if ferr := fn(lineNo, line); ferr != nil {
				return ferr
			}
			lineNo++
			if cap(long) > 4<<20 {
				long = nil // do not keep a huge buffer for the rest of the input
			}
		case bufio.ErrBufferFull:
			long = append(long, chunk...)
		case io.EOF:
			line := chunk
			if len(long) > 0 {
				line = append(long, chunk...)
			}
			if len(line) > 0 {
				return fn(lineNo, line)
			}
			return nil
		default:
			return err
		}
	}
}
