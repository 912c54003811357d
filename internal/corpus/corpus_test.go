package corpus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func generate(t testing.TB, size, seed int64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Generate(&b, size, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerateExactSize(t *testing.T) {
	for _, size := range []int64{0, 1, 2, 99, 4096, 64 << 10, 64<<10 + 1, 1 << 20, 3<<20 + 17} {
		if got := len(generate(t, size, 1)); int64(got) != size {
			t.Errorf("Generate(size %d) wrote %d bytes", size, got)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := generate(t, 300<<10, 7), generate(t, 300<<10, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different text")
	}
	if bytes.Equal(a, generate(t, 300<<10, 8)) {
		t.Fatal("different seeds gave the same text")
	}
	// A prefix of a longer text is the shorter text: size only cuts.
	if long := generate(t, 500<<10, 7); !bytes.Equal(long[:len(a)], a) {
		t.Fatal("a shorter text is not a prefix of a longer one")
	}
}

// TestGenerateGolden pins the bytes, so an accidental change of the generator (which would
// silently change every benchmark's input) is noticed. Update the digest only on purpose.
func TestGenerateGolden(t *testing.T) {
	sum := sha256.Sum256(generate(t, 1<<20, 1))
	if got, want := fmt.Sprintf("%x", sum), goldenDigest; got != want {
		t.Errorf("Generate(1MiB, seed 1) digest = %s, want %s", got, want)
	}
}

const goldenDigest = "4bf8f95ad5fbba78c98474b040c2582b9769d8a3b02eb8d8753ac2c31bfa494b"

func TestGenerateShape(t *testing.T) {
	text := generate(t, 2<<20, 3)
	lines := strings.Split(string(text), "\n")
	lines = lines[:len(lines)-1] // the last one is cut
	words := map[string]int{}
	var capitalised, nonASCII, digits, punct int
	for i, line := range lines {
		if n := utf8.RuneCountInString(line); n < 40 || n > 100 {
			t.Fatalf("line %d has %d characters: %q", i+1, n, line)
		}
		if !utf8.ValidString(line) {
			t.Fatalf("line %d is not valid UTF-8: %q", i+1, line)
		}
		for _, w := range strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) }) {
			words[w]++
			r, _ := utf8.DecodeRuneInString(w)
			if unicode.IsUpper(r) {
				capitalised++
			}
			for _, r := range w {
				if r >= utf8.RuneSelf {
					nonASCII++
					break
				}
			}
		}
		digits += strings.IndexFunc(line, unicode.IsDigit) + 1
		punct += strings.Count(line, ".") + strings.Count(line, ",")
	}
	if len(words) < 2000 || capitalised == 0 || nonASCII == 0 || digits == 0 || punct == 0 {
		t.Errorf("distinct words %d, capitalised %d, non-ASCII %d, digits %d, punctuation %d", len(words), capitalised, nonASCII, digits, punct)
	}
	for _, w := range []string{"café", "naïve", "Straße"} {
		if words[w] == 0 {
			t.Errorf("%q never appears", w)
		}
	}
	// Zipf-ish: the most frequent word is far more frequent than a typical one.
	if the, typical := words["the"], len(lines)*10/len(words); the < 20*typical {
		t.Errorf(`"the" appears %d times, an average word %d`, the, typical)
	}
}

func TestIntegers(t *testing.T) {
	var a, b bytes.Buffer
	if err := Integers(&a, 10000, 5); err != nil {
		t.Fatal(err)
	}
	Integers(&b, 10000, 5)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed gave different integers")
	}
	total := new(big.Int)
	limit := new(big.Int).Lsh(big.NewInt(1), 63)
	var lines, negative int
	sc := bufio.NewScanner(&a)
	for sc.Scan() {
		v, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		if v < 0 {
			negative++
		}
		total.Add(total, big.NewInt(v))
		lines++
		if lines == 10 && total.Cmp(limit) <= 0 {
			t.Errorf("after 10 lines the total is %s, not past 2^63", total)
		}
	}
	if lines != 10000 || negative == 0 || total.Cmp(limit) <= 0 {
		t.Errorf("%d lines, %d negative, total %s", lines, negative, total)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.SetBytes(16 << 20)
	for b.Loop() {
		if err := Generate(io.Discard, 16<<20, 1); err != nil {
			b.Fatal(err)
		}
	}
}
