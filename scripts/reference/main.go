// Command reference runs one of the plain sequential reference jobs of internal/reference on
// files and prints what the distributed job must print, byte for byte. Scripts compare dlbp's
// output with it and time it as the baseline.
//
//	go run ./scripts/reference wordcount FILE... > counts.txt
//	go run ./scripts/reference grep -pattern '^The' FILE... > matches.txt
//	go run ./scripts/reference sum -range 1..100 > total.txt
//
// Jobs: wordcount, indexer, grep (-pattern RE, required), sort, sum (FILES, or -range A..B).
// A file's name in the output (indexer, grep) is its path exactly as given.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dlbp/dlbp/internal/reference"
)

const usage = `usage: reference wordcount|indexer|sort FILE...
       reference grep -pattern RE FILE...
       reference sum FILE... | sum -range A..B
`

func main() {
	err := run(os.Args[1:], os.Stdout)
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "reference: %v\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "reference: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"no job given"}
	}
	name := args[0]
	fs := flag.NewFlagSet("reference "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pattern := fs.String("pattern", "", "grep: the Go regexp lines must match")
	sumRange := fs.String("range", "", "sum: add every integer of A..B instead of reading files")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	paths := fs.Args()
	if *pattern != "" && name != "grep" {
		return usageError{"-pattern is for grep only"}
	}
	if *sumRange != "" && name != "sum" {
		return usageError{"-range is for sum only"}
	}
	if len(paths) == 0 && !(name == "sum" && *sumRange != "") {
		return usageError{"no input files"}
	}

	w := bufio.NewWriterSize(stdout, 1<<20)
	var err error
	switch name {
	case "wordcount":
		err = reference.WordCount(paths, w)
	case "indexer":
		err = reference.Indexer(paths, w)
	case "sort":
		err = reference.Sort(paths, w)
	case "grep":
		if *pattern == "" {
			return usageError{"grep needs -pattern RE"}
		}
		err = reference.Grep(*pattern, paths, w)
	case "sum":
		if *sumRange == "" {
			err = reference.Sum(paths, w)
			break
		}
		if len(paths) > 0 {
			return usageError{"sum takes files or -range, not both"}
		}
		a, b, ok := strings.Cut(*sumRange, "..")
		if !ok {
			return usageError{fmt.Sprintf("-range %q: want A..B", *sumRange)}
		}
		err = reference.SumRange(a, b, w)
	default:
		return usageError{fmt.Sprintf("unknown job %q", name)}
	}
	if err != nil {
		return err
	}
	return w.Flush()
}
