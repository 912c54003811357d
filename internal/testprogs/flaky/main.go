// Command flaky is a word count mapper that fails a third of its runs: it then writes part of
// its output, complains on standard error and exits with status 1. What it writes when it
// succeeds depends only on its input, so retried maps give the same records.
//
//	flaky map      map: WORD\t1 per word (a maximal run of Unicode letters)
package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"unicode"
	"unicode/utf8"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var b [1]byte
	rand.Read(b[:])
	fail := b[0]%3 == 0
	out := bufio.NewWriter(os.Stdout)
	words := 0
	for i := 0; i < len(in); {
		r, n := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && n <= 1 || !unicode.IsLetter(r) {
			i += max(n, 1)
			continue
		}
		j := i
		for j < len(in) {
			r, n := utf8.DecodeRune(in[j:])
			if r == utf8.RuneError && n <= 1 || !unicode.IsLetter(r) {
				break
			}
			j += n
		}
		out.Write(in[i:j])
		out.WriteString("\t1\n")
		words++
		i = j
		if fail && words == 100 {
			out.Flush()
			fmt.Fprintln(os.Stderr, "flaky: failing on purpose after 100 words")
			os.Exit(1)
		}
	}
	out.Flush()
}
