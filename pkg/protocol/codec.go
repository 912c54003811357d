package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// maxNesting bounds how deeply arrays and maps may nest in a message. The
// msgpack decoder recurses once per level, and Go cannot recover from a stack
// overflow, so a frame of a few megabytes of 0x91 bytes would otherwise kill
// the daemon. dlbp's own messages nest a handful of levels.
const maxNesting = 64

// Marshal encodes v as msgpack. Every dlbp message goes through here so the
// codec is configured in one place: struct fields are named by their
// `msgpack:"..."` tags and integers use their most compact encoding.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if h, ok := v.(sizeHinter); ok {
		buf.Grow(h.encodedSizeHint()) // a bulk message is not copied as the buffer grows
	}
	enc := msgpack.GetEncoder()
	enc.Reset(&buf)
	enc.UseCompactInts(true)
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	if err != nil {
		return nil, fmt.Errorf("protocol: encoding %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// sizeHinter is a message that knows about how large its encoding is.
type sizeHinter interface{ encodedSizeHint() int }

// Overhead allowed for the fields around a message's bulk bytes.
const hintSlack = 256

func (e *Envelope) encodedSizeHint() int {
	return len(e.Body) + len(e.Method) + len(e.Code) + len(e.Error) + hintSlack
}
func (u *Upload) encodedSizeHint() int { return len(u.Data) + len(u.Job) + hintSlack }
func (c *Chunk) encodedSizeHint() int  { return len(c.Data) + hintSlack }

// Unmarshal decodes the msgpack value in b into v, which must be a non-nil
// pointer. b is first checked to be exactly one well-formed value of bounded
// nesting, so untrusted input yields ErrMalformed rather than a crash;
// unknown struct fields are ignored, so newer peers may add fields.
func Unmarshal(b []byte, v any) error {
	if err := checkWellFormed(b); err != nil {
		return err
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: decoding %T: %w", ErrMalformed, v, err)
	}
	return nil
}

// checkWellFormed walks b without recursion or allocation proportional to
// the input and reports whether it holds exactly one complete msgpack value
// nested at most maxNesting deep.
func checkWellFormed(b []byte) error {
	// remaining[i] is how many values are still expected at nesting level i.
	remaining := make([]uint64, 1, 8)
	remaining[0] = 1
	pos := 0
	for len(remaining) > 0 {
		top := len(remaining) - 1
		if remaining[top] == 0 {
			remaining = remaining[:top]
			continue
		}
		remaining[top]--
		skip, children, err := msgpackHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: at byte %d: %w", ErrMalformed, pos, err)
		}
		if uint64(len(b)-pos) < skip {
			return fmt.Errorf("%w: at byte %d: value truncated", ErrMalformed, pos)
		}
		pos += int(skip)
		if children > 0 {
			if len(remaining) > maxNesting {
				return fmt.Errorf("%w: nested more than %d levels deep", ErrMalformed, maxNesting)
			}
			// Every child takes at least one byte: reject impossible counts
			// early so a huge announced count cannot keep us looping.
			if children > uint64(len(b)-pos) {
				return fmt.Errorf("%w: at byte %d: %d elements announced, %d bytes left", ErrMalformed, pos, children, len(b)-pos)
			}
			remaining = append(remaining, children)
		}
	}
	if pos != len(b) {
		return fmt.Errorf("%w: %d trailing bytes after the value", ErrMalformed, len(b)-pos)
	}
	return nil
}

// msgpackHeader decodes the header of the value at the start of b. It
// returns how many bytes the header and any scalar payload take, and how many
// child values follow (array elements, or keys plus values for a map).
func msgpackHeader(b []byte) (skip, children uint64, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("value truncated")
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return 1, 0, nil
	case c <= 0x8f: // fixmap
		return 1, 2 * uint64(c&0x0f), nil
	case c <= 0x9f: // fixarray
		return 1, uint64(c & 0x0f), nil
	case c <= 0xbf: // fixstr
		return 1 + uint64(c&0x1f), 0, nil
	}
	// sized reads a big-endian length of n bytes following the code byte.
	sized := func(n int) (uint64, error) {
		if len(b) < 1+n {
			return 0, fmt.Errorf("value truncated")
		}
		switch n {
		case 1:
			return uint64(b[1]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(b[1:])), nil
		default:
			return uint64(binary.BigEndian.Uint32(b[1:])), nil
		}
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 1, 0, nil
	case 0xcc, 0xd0: // uint8, int8
		return 2, 0, nil
	case 0xcd, 0xd1: // uint16, int16
		return 3, 0, nil
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return 5, 0, nil
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return 9, 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: code, type, data
		return 2 + 1<<(c-0xd4), 0, nil
	case 0xc4, 0xd9: // bin8, str8
		n, err := sized(1)
		return 2 + n, 0, err
	case 0xc5, 0xda: // bin16, str16
		n, err := sized(2)
		return 3 + n, 0, err
	case 0xc6, 0xdb: // bin32, str32
		n, err := sized(4)
		return 5 + n, 0, err
	case 0xc7: // ext8: code, len, type, data
		n, err := sized(1)
		return 3 + n, 0, err
	case 0xc8: // ext16
		n, err := sized(2)
		return 4 + n, 0, err
	case 0xc9: // ext32
		n, err := sized(4)
		return 6 + n, 0, err
	case 0xdc: // array16
		n, err := sized(2)
		return 3, n, err
	case 0xdd: // array32
		n, err := sized(4)
		return 5, n, err
	case 0xde: // map16
		n, err := sized(2)
		return 3, 2 * n, err
	case 0xdf: // map32
		n, err := sized(4)
		return 5, 2 * n, err
	}
	return 0, 0, fmt.Errorf("invalid msgpack code 0x%02x", c)
}
