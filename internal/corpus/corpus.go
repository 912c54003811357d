// Package corpus generates deterministic test and benchmark input: English-like text for the
// text jobs and signed integers for sum. The same seed gives the same bytes on every platform and
// Go version: the only randomness is math/rand/v2's PCG generator, whose output is specified,
// read through its Uint64 method alone.
package corpus

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Generate writes exactly size bytes of English-like text made from seed: lines of 40 to 100
// characters, sentences of words drawn from a Zipf-like vocabulary of a few thousand words
// (some capitalised, some with non-ASCII letters such as café, naïve, Straße), punctuation and
// numbers. The text is cut at size bytes, so the last line may lack its '\n' (and, rarely, end in
// the middle of a multi-byte letter).
func Generate(w io.Writer, size int64, seed int64) error {
	g := &textGen{src: rand.NewPCG(uint64(seed), 0x6c62_7064_2e63_6f72), v: loadVocabulary(), capNext: true}
	x := g.src.Uint64()
	g.target, g.sentence = lineTarget(x), sentenceLength(x)
	buf := make([]byte, 0, chunkSize+256) // fill overshoots chunkSize by less than a token
	for size > 0 {
		buf = g.fill(buf[:0], chunkSize)
		chunk := buf
		if int64(len(chunk)) > size {
			chunk = chunk[:size]
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		size -= int64(len(chunk))
	}
	return nil
}

const chunkSize = 64 << 10

// textGen holds the state of the text between chunks.
type textGen struct {
	src      *rand.PCG
	v        *vocabulary
	lineLen  int // characters in the current line
	target   int // the line ends at the first word boundary at or after target characters
	sentence int // words left in the current sentence
	capNext  bool
}

// fill appends at least n bytes of text to buf. Every token (a word or a number, with the space
// or newline before it and the punctuation after it) consumes exactly one 64-bit PCG output:
//
//	bits 0–15 word, 16–21 kind, 22–29 punctuation, 30–32 sentence end, 33–38 line length,
//	39–42 sentence length, 43–63 number
func (g *textGen) fill(buf []byte, n int) []byte {
	v := g.v
	for len(buf) < n {
		x := g.src.Uint64()
		switch {
		case g.lineLen >= g.target:
			buf = append(buf, '\n')
			g.lineLen, g.target = 0, lineTarget(x)
		case g.lineLen > 0:
			buf = append(buf, ' ')
			g.lineLen++
		}
		before, multi := len(buf), 0 // multi: bytes beyond one per character
		switch kind := x >> 16 & 63; {
		case kind == 0:
			buf = appendNumber(buf, x>>43)
		case kind == 1 && !g.capNext: // a quoted word
			i := v.table[x&0xffff]
			buf = append(buf, '"')
			buf = v.appendWord(buf, i, false)
			buf = append(buf, '"')
			multi = int(v.entries[i].multi)
		default:
			i := v.table[x&0xffff]
			buf = v.appendWord(buf, i, g.capNext)
			multi = int(v.entries[i].multi)
		}
		g.capNext = false
		g.sentence--
		if g.sentence <= 0 {
			buf = append(buf, ".....!?"[(x>>30&7)%7])
			g.capNext = true
			g.sentence = sentenceLength(x)
		} else if p := x >> 22 & 15; p == 0 {
			buf = append(buf, ',')
		} else if p == 1 && x>>26&3 == 0 {
			buf = append(buf, ";:-"[(x>>28&3)%3])
		}
		g.lineLen += len(buf) - before - multi
	}
	return buf
}

// lineTarget aims a line at 40 to 83 characters, which its last token takes to at most ~100.
func lineTarget(x uint64) int { return 40 + int(x>>33&63)%44 }

func sentenceLength(x uint64) int { return 4 + int(x>>39&15) }

// appendNumber appends a year, an ordinal, a longer figure or a small count, chosen by r's two
// low bits from the 19 bits above them.
func appendNumber(buf []byte, r uint64) []byte {
	v := r >> 2 & (1<<19 - 1)
	switch r & 3 {
	case 0:
		return strconv.AppendUint(buf, 1700+v%320, 10)
	case 1:
		n := 1 + v&31
		buf = strconv.AppendUint(buf, n, 10)
		suffix := "th"
		if n < 11 || n > 13 {
			suffix = [...]string{"th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th"}[n%10]
		}
		return append(buf, suffix...)
	case 2:
		return strconv.AppendUint(buf, v, 10)
	default:
		return strconv.AppendUint(buf, v&127, 10)
	}
}

// bitSource deals out random bits a few at a time from 64-bit PCG outputs.
type bitSource struct {
	src   *rand.PCG
	cache uint64
	left  uint
}

// take returns n (≤ 32) random bits.
func (b *bitSource) take(n uint) uint64 {
	if b.left < n {
		b.cache, b.left = b.src.Uint64(), 64
	}
	v := b.cache & (1<<n - 1)
	b.cache >>= n
	b.left -= n
	return v
}

// vocabulary is the fixed word list, ranked by frequency, with a sampling table.
type vocabulary struct {
	words       [][]byte
	capitalised [][]byte
	entries     []wordEntry
	table       [1 << 16]uint16 // uniform 16-bit draw → word index, Zipf-distributed
}

// wordEntry packs a word of up to 16 bytes into words, so appending it is two stores.
type wordEntry struct {
	word, capitalised [2]uint64
	len               uint8
	multi             uint8 // len - characters, the same for the capitalised form
}

// appendWord appends word i, capitalised or not. buf must have 16 bytes of spare capacity.
func (v *vocabulary) appendWord(buf []byte, i uint16, capital bool) []byte {
	e := &v.entries[i]
	l := len(buf)
	if e.len > 16 || cap(buf)-l < 16 {
		if capital {
			return append(buf, v.capitalised[i]...)
		}
		return append(buf, v.words[i]...)
	}
	w := &e.word
	if capital {
		w = &e.capitalised
	}
	b := buf[l : l+16]
	binary.LittleEndian.PutUint64(b, w[0])
	binary.LittleEndian.PutUint64(b[8:], w[1])
	return buf[:l+int(e.len)]
}

func packWord(w []byte) (p [2]uint64) {
	var b [16]byte
	copy(b[:], w)
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// loadVocabulary builds the vocabulary once per process.
var loadVocabulary = sync.OnceValue(buildVocabulary)

// common are the most frequent English words, in rank order.
var common = strings.Fields(`the of and to a in that was he it his I is with as had for you her
not be at on by but she which my have all so this they from him me said were or one we there no
an been would their when what if will are up out them more do then could into some man who like
time very did your upon little any can two now only little such know see over before must old
made day well should may our much these came after down good never great other how way back
long than where through own again most here himself still those thought might first house eyes
face nothing without went told same hand night heard life found away yet every once under head
mind even last left things moment each few young voice poor door while seemed room between`)

// names and foreign add capitalised and non-ASCII words at fixed ranks.
var (
	names   = strings.Fields(`London Holmes Watson Elizabeth Tom Huck Dorian Gregor Victor Paris Thames Christmas Monday English God Sir Lady Mr Mrs Miss Baker Street Jim Sawyer Gretel Hansel Ernest Algernon`)
	foreign = strings.Fields(`café naïve Straße über façade résumé fiancée déjà vu Müller Zoë señor mañana smörgåsbord Ωmega αλφα 日本 niño crème brûlée Ørsted`)
)

// buildVocabulary builds the same vocabulary every time: common words first, then synthetic
// words from syllables (drawn from a fixed PCG seed), with names and foreign words spread among
// the ranks.
func buildVocabulary() *vocabulary {
	const size = 3000
	seen := map[string]bool{}
	var list []string
	add := func(w string) {
		if !seen[w] {
			seen[w] = true
			list = append(list, w)
		}
	}
	for _, w := range common {
		add(w)
	}
	onsets := strings.Fields("b c d f g h j k l m n p r s t v w br cr dr fr gr pl pr sh st th tr wh ch")
	nuclei := strings.Fields("a e i o u ai ea ee oo ou ie")
	codas := []string{"", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "th", "rt", "ll"}
	bits := bitSource{src: rand.NewPCG(1, 2)}
	special := append(append([]string{}, names...), foreign...)
	for len(list) < size {
		if len(list)%23 == 0 && len(special) > 0 {
			add(special[0])
			special = special[1:]
			continue
		}
		var sb strings.Builder
		for range 1 + bits.take(2)%3 {
			sb.WriteString(onsets[bits.take(5)%uint64(len(onsets))])
			sb.WriteString(nuclei[bits.take(4)%uint64(len(nuclei))])
		}
		sb.WriteString(codas[bits.take(4)%uint64(len(codas))])
		add(sb.String())
	}
	v := &vocabulary{}
	for _, w := range list {
		v.words = append(v.words, []byte(w))
		r, n := utf8.DecodeRuneInString(w)
		c := string(unicode.ToUpper(r)) + w[n:]
		if len(c) != len(w) {
			panic("corpus: capitalising " + w + " changes its length")
		}
		v.capitalised = append(v.capitalised, []byte(c))
		v.entries = append(v.entries, wordEntry{
			word:        packWord([]byte(w)),
			capitalised: packWord([]byte(c)),
			len:         uint8(min(len(w), 255)),
			multi:       uint8(len(w) - utf8.RuneCountInString(w)),
		})
	}
	// Weights 1/(rank+2): every word gets at least one slot of the table, the rest in proportion.
	weights := make([]float64, len(list))
	var total float64
	for i := range weights {
		weights[i] = 1 / float64(i+2)
		total += weights[i]
	}
	free := float64(len(v.table) - len(list))
	slot := 0
	carry := 0.0
	for i, wt := range weights {
		carry += wt / total * free
		n := 1 + int(carry)
		carry -= float64(n - 1)
		for ; n > 0 && slot < len(v.table); n-- {
			v.table[slot] = uint16(i)
			slot++
		}
	}
	for ; slot < len(v.table); slot++ { // rounding leftovers go to the most frequent word
		v.table[slot] = 0
	}
	return v
}

// Integers writes n lines, each a signed decimal integer made from seed, whose running total
// passes 2^63 (and so needs more than int64) after a handful of lines: most values lie near
// ±9·10^18 with a positive bias, the others are small; some carry a '+' sign.
func Integers(w io.Writer, n int, seed int64) error {
	bits := bitSource{src: rand.NewPCG(uint64(seed), 0x696e_7465_6765_7273)}
	bw := bufio.NewWriter(w)
	var line []byte
	for range n {
		var v int64
		switch r := bits.take(4); {
		case r < 9: // large positive
			v = 8_000_000_000_000_000_000 + int64(bits.take(32))*int64(bits.take(28))
		case r < 13: // large negative
			v = -8_000_000_000_000_000_000 - int64(bits.take(32))*int64(bits.take(28))
		default: // small, either sign
			v = int64(bits.take(20)) - 1<<19
		}
		line = line[:0]
		if v > 0 && bits.take(3) == 0 {
			line = append(line, '+')
		}
		line = strconv.AppendInt(line, v, 10)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
