// Command gencorpus writes deterministic test input: English-like text (the default) or, with
// -ints N, N signed integer lines for the sum job.
//
//	go run ./scripts/gencorpus -size 4MB -seed 1 > out.txt
//	go run ./scripts/gencorpus -ints 1000000 -seed 7 -o ints.txt
//
// Sizes take a KB, MB or GB suffix (or K, M, G; binary multiples, so 4MB = 4194304 bytes).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/dlbp/dlbp/internal/corpus"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("gencorpus", flag.ContinueOnError)
	sizeFlag := fs.String("size", "1MB", "bytes of text to write (suffix KB, MB or GB)")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same bytes")
	ints := fs.Int("ints", 0, "write this many integer lines (for sum) instead of text")
	out := fs.String("o", "", "write to `FILE` instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if *ints > 0 {
		err = corpus.Integers(bw, *ints, *seed)
	} else {
		err = corpus.Generate(bw, size, *seed)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// parseSize parses a byte count such as 4096, 64KB, 4MB or 1GB (binary multiples).
func parseSize(s string) (int64, error) {
	num := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a byte count such as 4096, 64KB, 4MB or 1GB", s)
	}
	if n > (1<<63-1)/mult {
		return 0, errors.New("size too large")
	}
	return n * mult, nil
}
