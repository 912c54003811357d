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
	"regexp"
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

// Indexer prints `WORD N DOC1,DOC2,…` for every distinct word of the files (as WordCount finds
// them): the N files that contain it, named by their paths as given, sorted and comma-joined. A
// path given twice counts once.
func Indexer(paths []string, w io.Writer) error {
	docs := map[string]map[string]bool{} // word → set of paths
	for _, path := range paths {
		err := eachLine(path, func(n int, line string) error {
			for _, word := range strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) }) {
				if docs[word] == nil {
					docs[word] = map[string]bool{}
				}
				docs[word][path] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	words := make([]string, 0, len(docs))
	for word := range docs {
		words = append(words, word)
	}
	sort.Strings(words)
	bw := bufio.NewWriter(w)
	for _, word := range words {
		var names []string
		for name := range docs[word] {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Fprintf(bw, "%s %d %s\n", word, len(names), strings.Join(names, ","))
	}
	return bw.Flush()
}

// Grep prints `PATH:LINENO:LINE` for every line of the files that matches the Go regexp pattern,
// file by file in the order given, like `grep -Hn`. A line is matched without its '\n'.
func Grep(pattern string, paths []string, w io.Writer) error {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, path := range paths {
		err := eachLine(path, func(n int, line string) error {
			if re.MatchString(line) {
				fmt.Fprintf(bw, "%s:%d:%s\n", path, n, line)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Sort prints every line of the files sorted by bytes, duplicates kept, like `LC_ALL=C sort`.
func Sort(paths []string, w io.Writer) error {
	var lines []string
	for _, path := range paths {
		err := eachLine(path, func(n int, line string) error {
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Strings(lines)
	bw := bufio.NewWriter(w)
	for _, line := range lines {
		bw.WriteString(line)
		bw.WriteByte('\n')
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
