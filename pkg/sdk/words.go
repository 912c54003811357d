package sdk

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// Words yields the words of line, as dlbp's built-in jobs define them: maximal runs of Unicode
// letters (unicode.IsLetter), case kept; bytes that are not valid UTF-8 are not letters. The
// slices are line's own bytes, so nothing is allocated; ASCII takes a fast path.
func Words(line []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		start := -1 // of the current word, or -1
		for i := 0; i < len(line); {
			c := line[i]
			size := 1
			var letter bool
			if c < utf8.RuneSelf {
				letter = (c|0x20)-'a' < 26 // A-Z or a-z
			} else {
				var r rune
				r, size = utf8.DecodeRune(line[i:])
				letter = unicode.IsLetter(r) // utf8.RuneError, an invalid byte, is not a letter
			}
			if letter {
				if start < 0 {
					start = i
				}
			} else if start >= 0 {
				if !yield(line[start:i]) {
					return
				}
				start = -1
			}
			i += size
		}
		if start >= 0 {
			yield(line[start:])
		}
	}
}
