package job

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// wordTable counts words in an open-addressing hash table (linear probing) whose keys live in
// one byte arena: a word seen again costs a hash, a probe and a compare, with no allocation;
// a new word is appended to the arena. Each slot packs the entry and the word's hash into one
// word, so that a probe touches one cache line before the compare. The hash is seeded per
// table, so that no input collides on every node alike.
type wordTable struct {
	key    uint64   // the hash's seed
	slots  []uint64 // (entry+1)<<32 | hash; 0 is empty. len is a power of two
	arena  []byte
	spans  []uint64 // entry i's word: offset<<32 | length, in arena
	counts []int64
}

func newWordTable() *wordTable {
	return &wordTable{key: maphash.Comparable(maphash.MakeSeed(), 0), slots: make([]uint64, 1<<10)}
}

// hash mixes word, 8 bytes at a time, with the table's seed.
func (t *wordTable) hash(word []byte) uint32 {
	h := t.key ^ uint64(len(word))*0x9e3779b97f4a7c15
	for len(word) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(word)) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
		word = word[8:]
	}
	var tail uint64
	for i, c := range word {
		tail |= uint64(c) << (8 * i)
	}
	h = (h ^ tail) * 0x94d049bb133111eb
	return uint32(h ^ h>>32)
}

// add counts one occurrence of word and reports whether it is new.
func (t *wordTable) add(word []byte) bool {
	h := t.hash(word)
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			t.insert(i, h, word)
			return true
		}
		if uint32(s) == h {
			e := int32(s>>32) - 1
			if bytes.Equal(t.word(e), word) {
				t.counts[e]++
				return false
			}
		}
	}
}

// insert puts a new word into empty slot i, growing the table past half full.
func (t *wordTable) insert(i, h uint32, word []byte) {
	t.spans = append(t.spans, uint64(len(t.arena))<<32|uint64(len(word)))
	t.arena = append(t.arena, word...)
	t.counts = append(t.counts, 1)
	t.slots[i] = uint64(len(t.spans))<<32 | uint64(h)
	if 2*len(t.spans) > len(t.slots) {
		t.grow()
	}
}

func (t *wordTable) grow() {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
	mask := uint32(len(t.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := uint32(s) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// len is the number of distinct words.
func (t *wordTable) len() int { return len(t.spans) }

// word returns entry i's word (valid until the next add).
func (t *wordTable) word(i int32) []byte {
	sp := t.spans[i]
	off := sp >> 32
	return t.arena[off : off+sp&0xffffffff]
}

// reset empties the table, keeping its memory for the next words.
func (t *wordTable) reset() {
	clear(t.slots)
	t.arena, t.spans, t.counts = t.arena[:0], t.spans[:0], t.counts[:0]
}
