// Package reference holds plain sequential implementations of the built-in jobs, written as
// simply as possible and independently of pkg/job, so tests can check the distributed results
// against them byte for byte.
package reference

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"
	"unicode"
)

// WordCount prints `WORD COUNT` for every distinct word of the files, sorted by word. A word is
// a maximal run of Unicode letters.
func WordCount(paths []string, w io.Writer) error {
	counts := map[string]int{}
	for _, path := range paths {
		err := eachLine(path, func(n int, line string) error {
			for _, word := range strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) }) {
				counts[word]++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	words := make([]string, 0, len(counts))
	for word := range counts {
		words = append(words, word)
	}
	sort.Strings(words)
	bw := bufio.NewWriter(w)
	for _, word := range words {
		fmt.Fprintf(bw, "%s %d\n", word, counts[word])
	}
	return bw.Flush()
}

// Sum prints the exact sum of the integers in the files, one per line (blank lines and spaces
// around a number are ignored).
func Sum(paths []string, w io.Writer) error {
	total := new(big.Int)
	for _, path := range paths {
		err := eachLine(path, func(n int, line string) error {
			s := strings.TrimSpace(line)
			if s == "" {
				return nil
			}
			v, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return fmt.Errorf("%s:%d: not an integer: %q", path, n, s)
			}
			total.Add(total, v)
			return nil
		})
		if err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, total)
	return err
}

// SumRange prints the sum of every integer from a to b inclusive: the number of terms times the
// mean of the first and the last.
func SumRange(a, b string, w io.Writer) error {
	first, ok1 := new(big.Int).SetString(a, 10)
	last, ok2 := new(big.Int).SetString(b, 10)
	if !ok1 || !ok2 || first.Cmp(last) > 0 {
		return fmt.Errorf("bad range %s..%s", a, b)
	}
	terms := new(big.Int).Sub(last, first)
	terms.Add(terms, big.NewInt(1))
	total := new(big.Int).Add(first, last)
	total.Mul(total, terms)
	total.Rsh(total, 1) // the product is even, so halving it is exact, negative or not
	_, err := fmt.Fprintln(w, total)
	return err
}

// eachLine calls fn with every line of the file (without its '\n') and its 1-based number.
func eachLine(path string, fn func(n int, line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if line != "" {
			if ferr := fn(n, strings.TrimSuffix(line, "\n")); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
