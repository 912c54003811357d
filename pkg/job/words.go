package job

import (
	"io"
	"slices"
	"unicode"
	"unicode/utf8"
)

// wordScanner finds the words of a stream, for wordcount and indexer: maximal runs of Unicode
// letters (unicode.IsLetter), with invalid UTF-8 bytes as separators. Words never cross '\n', so
// splits are independent; the stream is read in chunks, carrying a word or a rune cut by a
// chunk's end into the next chunk.
type wordScanner struct {
	buf []byte
}

// scan calls fn with every word of r, in order. The slice is valid only during fn; an error from
// fn stops the scan and is returned.
func (s *wordScanner) scan(r io.Reader, fn func(word []byte) error) error {
	if s.buf == nil {
		s.buf = make([]byte, 64<<10)
	}
	have := 0 // bytes carried at the front of buf
	for {
		n, err := io.ReadFull(r, s.buf[have:])
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return err
		}
		data := s.buf[:have+n]
		rest, err := scanWords(data, eof, fn)
		if err != nil || eof {
			return err
		}
		have = copy(s.buf, data[len(data)-rest:])
		if have == len(s.buf) { // a word as long as the buffer: grow it
			s.buf = slices.Grow(s.buf, len(s.buf))[:2*len(s.buf)]
		}
	}
}

// scanWords calls fn with the words of data and returns how many bytes at its end must be
// carried into the next chunk (an unfinished word or rune); at eof it takes everything.
func scanWords(data []byte, eof bool, fn func(word []byte) error) (rest int, err error) {
	word := -1 // start of the current word, or -1
	i := 0
	for i < len(data) {
		c := data[i]
		var letter bool
		size := 1
		if c < utf8.RuneSelf {
			letter = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		} else {
			if !eof && !utf8.FullRune(data[i:]) {
				break // a rune cut by the chunk's end
			}
			var r rune
			r, size = utf8.DecodeRune(data[i:])
			letter = unicode.IsLetter(r) // RuneError (invalid bytes) is not a letter
		}
		if letter {
			if word < 0 {
				word = i
			}
		} else if word >= 0 {
			if err := fn(data[word:i]); err != nil {
				return 0, err
			}
			word = -1
		}
		i += size
	}
	switch {
	case eof:
		if word >= 0 {
			return 0, fn(data[word:])
		}
		return 0, nil
	case word >= 0:
		return len(data) - word, nil
	default:
		return len(data) - i, nil
	}
}
