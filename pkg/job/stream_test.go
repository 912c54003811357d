package job_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/pkg/job"
)

// funcRunner runs "programs" that are Go functions, chosen by the command's first word, so that
// the streaming job's plumbing (stdin, stdout, environment, combining, errors) is tested without
// a WebAssembly runtime. pkg/usercode tests the real runners.
type funcRunner struct {
	progs map[string]func(env map[string]string, in io.Reader, out io.Writer) error
	mu    sync.Mutex
	runs  map[string]int
}

func (f *funcRunner) Run(ctx context.Context, p job.Program) error {
	fn, ok := f.progs[p.Cmd.Args[0]]
	if !ok {
		return fmt.Errorf("no program %q", p.Cmd.Args[0])
	}
	f.mu.Lock()
	if f.runs == nil {
		f.runs = map[string]int{}
	}
	f.runs[p.Cmd.Args[0]]++
	f.mu.Unlock()
	env := map[string]string{}
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	bw := bufio.NewWriter(p.Stdout)
	if err := fn(env, p.Stdin, bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (f *funcRunner) count(prog string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[prog]
}

// wcMap writes WORD\t1 for every word (a maximal run of letters), as the built-in counts them.
func wcMap(_ map[string]string, in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	for _, w := range strings.FieldsFunc(string(data), func(r rune) bool { return !unicode.IsLetter(r) }) {
		fmt.Fprintf(out, "%s\t1\n", w)
	}
	return nil
}

// wcSum sums each key's counts, checking that its input is sorted and grouped; format prints a
// key and its sum (KEY\tN as a combiner, `KEY N` as a reducer).
func wcSum(format string) func(map[string]string, io.Reader, io.Writer) error {
	return func(_ map[string]string, in io.Reader, out io.Writer) error {
		sc := bufio.NewScanner(in)
		var key string
		var n int64
		have := false
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "\t")
			if !ok {
				return errors.New("input line without a tab")
			}
			if have && k < key {
				return fmt.Errorf("input not sorted: %q after %q", k, key)
			}
			c, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return err
			}
			if have && k == key {
				n += c
				continue
			}
			if have {
				fmt.Fprintf(out, format, key, n)
			}
			key, n, have = k, c, true
		}
		if have {
			fmt.Fprintf(out, format, key, n)
		}
		return sc.Err()
	}
}

func wcRunner() *funcRunner {
	return &funcRunner{progs: map[string]func(map[string]string, io.Reader, io.Writer) error{
		"map": wcMap, "combine": wcSum("%s\t%d\n"), "reduce": wcSum("%s %d\n"),
	}}
}

func command(word string) job.Command {
	return job.Command{Module: strings.Repeat("0", 64), Args: []string{word}}
}

func userSpec(r int, combiner bool) *job.Spec {
	s := &job.Spec{Job: job.StreamingJob, Reducers: r, Stream: &job.Stream{Mapper: command("map"), Reducer: command("reduce")}}
	if combiner {
		s.Stream.Combiner = command("combine")
	}
	return s
}

// TestCombinerSkippedWithoutRepeats: a mapper that combines in memory writes each key once per
// task; its combiner has nothing to combine and is not started (it runs zero or more times per
// record), and the output is the reference's.
func TestCombinerSkippedWithoutRepeats(t *testing.T) {
	docs := gutenberg(t)
	if len(docs) > 2 {
		docs = docs[:2]
	}
	want := sortedLines(referenceOutput(t, reference.WordCount, docs))
	runner := wcRunner()
	runner.progs["map"] = func(env map[string]string, in io.Reader, out io.Writer) error { // in-mapper combining
		var mapped bytes.Buffer
		if err := wcMap(env, in, &mapped); err != nil {
			return err
		}
		lines := strings.SplitAfter(mapped.String(), "\n")
		sort.Strings(lines)
		return wcSum("%s\t%d\n")(env, strings.NewReader(strings.Join(lines, "")), out)
	}
	res, err := runWith(t, userSpec(3, true), docs, runConfig{split: 256 << 10, mappers: 3, runner: runner})
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, sortedLines(res.output), want)
	if n := runner.count("combine"); n != 0 {
		t.Errorf("the combiner ran %d times over records with no key twice", n)
	}
	if runner.count("map") == 0 {
		t.Error("the mapper never ran")
	}
}

func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "")
}

// TestUserWordcountMatchesReference runs a word count written as streaming programs, with and
// without a combiner and with budgets small enough to spill and combine many times, and compares
// its sorted output with the sequential reference's.
func TestUserWordcountMatchesReference(t *testing.T) {
	docs := gutenberg(t)
	if len(docs) > 2 {
		docs = docs[:2]
	}
	docs = append(docs, []byte("a last line without a newline, Étienne"))
	want := sortedLines(referenceOutput(t, reference.WordCount, docs))
	for _, combiner := range []bool{false, true} {
		for _, memory := range []int64{0, 64 << 10} {
			t.Run(fmt.Sprintf("combiner=%v/memory=%d", combiner, memory), func(t *testing.T) {
				runner := wcRunner()
				res, err := runWith(t, userSpec(3, combiner), docs, runConfig{split: 256 << 10, mappers: 3, memory: memory, runner: runner})
				if err != nil {
					t.Fatal(err)
				}
				assertSame(t, sortedLines(res.output), want)
				if memory > 0 && res.spills == 0 {
					t.Error("a small budget spilled nothing")
				}
				if combiner && runner.count("combine") == 0 {
					t.Error("the combiner never ran")
				}
			})
		}
	}
}
