package job

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestWordTableCountsLikeAMap: 200,000 adds of words drawn from a skewed vocabulary (lengths 0
// to 40, so both hash paths and many grows), counted against a Go map; then reset and again.
func TestWordTableCountsLikeAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([][]byte, 30000)
	for i := range vocab {
		w := make([]byte, rng.IntN(41))
		for k := range w {
			w[k] = byte('a' + rng.IntN(3)) // few letters: many words share prefixes
		}
		vocab[i] = w
	}
	tbl := newWordTable()
	for round := 0; round < 2; round++ {
		want := map[string]int64{}
		news := 0
		for range 200000 {
			w := vocab[int(rng.ExpFloat64()*2000)%len(vocab)]
			if tbl.add(w) {
				news++
			}
			want[string(w)]++
		}
		if tbl.len() != len(want) || news != len(want) {
			t.Fatalf("round %d: %d entries, %d new, want %d", round, tbl.len(), news, len(want))
		}
		for i := int32(0); i < int32(tbl.len()); i++ {
			w := tbl.word(i)
			if tbl.counts[i] != want[string(w)] {
				t.Fatalf("round %d: %q counted %d, want %d", round, w, tbl.counts[i], want[string(w)])
			}
			delete(want, string(w))
		}
		if len(want) != 0 {
			t.Fatalf("round %d: %d words missing", round, len(want))
		}
		tbl.reset()
		if tbl.len() != 0 || !tbl.add([]byte("x")) || !bytes.Equal(tbl.word(0), []byte("x")) {
			t.Fatal("reset did not empty the table")
		}
		tbl.reset()
	}
}
