package sdk

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Counts adds up counts per key in the mapper's memory, for in-mapper combining: a mapper that
// counts (words, hits per URL) emits one record per distinct key of its split, `KEY<TAB>COUNT`,
// instead of one per occurrence, which keeps the shuffle small and needs no combiner run. Keys
// are kept back to back in one arena and found through an open-addressing table, so that adding
// a key already seen allocates nothing; it is much faster than a Go map, above all in
// WebAssembly. When the table holds more than Limit bytes of keys, Add emits everything and
// starts again, so memory stays bounded whatever the input.
//
// Use it from Map and flush it from MapEnd:
//
//	var counts sdk.Counts
//	job := sdk.Job{
//		Map:    func(line []byte, out *sdk.Emitter) error { return counts.Add(line, 1, out) },
//		MapEnd: counts.Flush,
//		...
//	}
//
// Records are emitted in the order their keys were first added, which depends only on the input:
// a retried task emits the same records.
type Counts struct {
	// Limit is the bytes of keys held before Add emits them all; 0 means 64 MiB.
	Limit int

	arena   []byte
	entries []countEntry
	slots   []int32 // index+1 into entries; 0 is empty
	value   []byte
}

type countEntry struct {
	off, n int32
	hash   uint32
	count  int64
}

const defaultCountsLimit = 64 << 20

// Add adds n to key's count. key is copied the first time it is seen.
func (c *Counts) Add(key []byte, n int64, out *Emitter) error {
	h := uint32(fnvOffset)
	for _, b := range key {
		h = (h ^ uint32(b)) * fnvPrime
	}
	return c.add(key, h, n, out)
}

// AddWords adds n to the count of every word of line, as Words defines them. It is Add for
// each word, but scans the line once, hashing as it goes: the way to count words. (The scan is
// Words' written out again: in WebAssembly, a call per word costs more than the word's bytes.)
func (c *Counts) AddWords(line []byte, n int64, out *Emitter) error {
	i := 0
	for i < len(line) {
		// Skip what is not a letter.
		b := line[i]
		if b < utf8.RuneSelf {
			if (b|0x20)-'a' >= 26 {
				i++
				continue
			}
		} else if r, size := utf8.DecodeRune(line[i:]); !unicode.IsLetter(r) {
			i += size
			continue
		}
		// A word: letters, hashed as they go by.
		start, h := i, uint32(fnvOffset)
		for i < len(line) {
			b := line[i]
			if b < utf8.RuneSelf {
				if (b|0x20)-'a' >= 26 {
					break
				}
				h = (h ^ uint32(b)) * fnvPrime
				i++
				continue
			}
			r, size := utf8.DecodeRune(line[i:])
			if !unicode.IsLetter(r) {
				break
			}
			for _, b := range line[i : i+size] {
				h = (h ^ uint32(b)) * fnvPrime
			}
			i += size
		}
		if err := c.add(line[start:i], h, n, out); err != nil {
			return err
		}
	}
	return nil
}

// The FNV-1a hash of keys, 32 bits: cheap to compute a byte at a time as a word is scanned.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// add adds n to the count of key, whose hash is h.
func (c *Counts) add(key []byte, h uint32, n int64, out *Emitter) error {
	if len(c.slots) == 0 {
		c.slots = make([]int32, 1024)
	}
	mask := uint32(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := c.slots[i]
		if s == 0 {
			break
		}
		e := &c.entries[s-1]
		if e.hash == h && string(c.arena[e.off:e.off+e.n]) == string(key) {
			e.count += n
			return nil
		}
	}
	limit := c.Limit
	if limit <= 0 {
		limit = defaultCountsLimit
	}
	if len(c.arena)+len(key) > limit && len(c.entries) > 0 {
		if err := c.Flush(out); err != nil {
			return err
		}
	}
	c.entries = append(c.entries, countEntry{off: int32(len(c.arena)), n: int32(len(key)), hash: h, count: n})
	c.arena = append(c.arena, key...)
	if 4*len(c.entries) > 3*len(c.slots) {
		c.grow()
	} else {
		c.place(int32(len(c.entries)), h)
	}
	return nil
}

// place puts entry e (index+1) with hash h in the first free slot from its own.
func (c *Counts) place(e int32, h uint32) {
	mask := uint32(len(c.slots) - 1)
	i := h & mask
	for c.slots[i] != 0 {
		i = (i + 1) & mask
	}
	c.slots[i] = e
}

// grow doubles the table and places every entry again.
func (c *Counts) grow() {
	c.slots = make([]int32, 2*len(c.slots))
	for i := range c.entries {
		c.place(int32(i+1), c.entries[i].hash)
	}
}

// Flush emits every key with its count, `KEY<TAB>COUNT`, and empties the table (keeping its
// memory for what comes next).
func (c *Counts) Flush(out *Emitter) error {
	for _, e := range c.entries {
		c.value = strconv.AppendInt(c.value[:0], e.count, 10)
		if err := out.Emit(c.arena[e.off:e.off+e.n], c.value); err != nil {
			return err
		}
	}
	c.arena, c.entries = c.arena[:0], c.entries[:0]
	clear(c.slots)
	return nil
}
