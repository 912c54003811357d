// Command parallel is the hand-written parallel baseline of scripts/bench.sh: what a Go user
// writes to run wordcount, indexer or sort on one machine without a framework. The input is cut
// into chunks at line boundaries; one goroutine per core takes chunks from a channel, reads them
// with bufio, splits words with strings.FieldsFunc and keeps its own map (or, for sort, its own
// slice of lines, sorted at the end); the maps are merged (the slices k-way merged) at the end.
// Its output is byte-identical to scripts/reference (internal/reference).
//
//	go run ./scripts/bench/parallel wordcount FILE... > counts.txt
//	go run ./scripts/bench/parallel -cpuprofile cpu.out sort FILE... > sorted.txt
//	go run ./scripts/bench/parallel -sequential indexer FILE...   # internal/reference, profiled
//
// -sequential runs the plain sequential reference instead, so that its CPU profile can be taken
// with the same -cpuprofile flag.
package main

import (
	"bufio"
	"container/heap"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/dlbp/dlbp/internal/reference"
)

const usage = `usage: parallel [-procs N] [-chunk BYTES] [-cpuprofile FILE] [-sequential] wordcount|indexer|sort FILE...`

func main() {
	procs := flag.Int("procs", runtime.NumCPU(), "worker goroutines (one per core)")
	chunk := flag.Int64("chunk", 8<<20, "bytes per chunk of input a worker takes at a time")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile (runtime/pprof) to `FILE`")
	sequential := flag.Bool("sequential", false, "run the sequential reference (internal/reference) instead")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, usage); flag.PrintDefaults() }
	flag.Parse()
	if flag.NArg() < 2 || *procs < 1 || *chunk < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	name, paths := flag.Arg(0), flag.Args()[1:]
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var err error
	if *sequential {
		err = runSequential(name, paths, w)
	} else {
		err = runParallel(name, paths, *procs, *chunk, w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		pprof.StopCPUProfile()
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "parallel:", err)
	os.Exit(1)
}

func runSequential(name string, paths []string, w io.Writer) error {
	switch name {
	case "wordcount":
		return reference.WordCount(paths, w)
	case "indexer":
		return reference.Indexer(paths, w)
	case "sort":
		return reference.Sort(paths, w)
	}
	return fmt.Errorf("unknown job %q (want wordcount, indexer or sort)", name)
}

func runParallel(name string, paths []string, procs int, chunkSize int64, w *bufio.Writer) error {
	// docs: every distinct path, in byte order, so that a doc number sorts like its name.
	docs := slices.Clone(paths)
	slices.Sort(docs)
	docs = slices.Compact(docs)
	docOf := map[string]int32{}
	for i, d := range docs {
		docOf[d] = int32(i)
	}
	var chunks []chunk
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		for off := int64(0); off < st.Size(); off += chunkSize {
			chunks = append(chunks, chunk{path: p, doc: docOf[p], off: off, end: min(off+chunkSize, st.Size()), size: st.Size()})
		}
	}
	work := make(chan chunk, len(chunks))
	for _, c := range chunks {
		work <- c
	}
	close(work)

	var newWorker func() worker
	switch name {
	case "wordcount":
		newWorker = func() worker { return &wordCounter{counts: map[string]int{}} }
	case "indexer":
		newWorker = func() worker { return &indexer{docs: map[string][]int32{}} }
	case "sort":
		newWorker = func() worker { return &sorter{} }
	default:
		return fmt.Errorf("unknown job %q (want wordcount, indexer or sort)", name)
	}
	workers := make([]worker, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker()
		wg.Go(func() {
			for c := range work {
				if err := c.eachLine(workers[i].line(c.doc)); err != nil {
					errs[i] = err
					return
				}
			}
			workers[i].done()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	switch name {
	case "wordcount":
		return writeCounts(workers, w)
	case "indexer":
		return writeIndex(workers, docs, w)
	default:
		return writeSorted(workers, w)
	}
}

// chunk is the lines of a file that start in [off, end).
type chunk struct {
	path           string
	doc            int32
	off, end, size int64
}

// eachLine calls fn with every line (without its '\n') that starts in the chunk.
func (c chunk) eachLine(fn func(string)) error {
	f, err := os.Open(c.path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := c.off
	if start > 0 {
		start-- // the line that ends at or after off-1 belongs to the previous chunk
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, c.size-start), 256<<10)
	pos := start
	if c.off > 0 {
		skip, err := r.ReadString('\n')
		pos += int64(len(skip))
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	for pos < c.end {
		line, err := r.ReadString('\n')
		pos += int64(len(line))
		if line != "" {
			fn(strings.TrimSuffix(line, "\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// worker is one goroutine's private state.
type worker interface {
	line(doc int32) func(string)
	done()
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

type wordCounter struct{ counts map[string]int }

func (w *wordCounter) line(int32) func(string) {
	return func(line string) {
		for _, word := range strings.FieldsFunc(line, notLetter) {
			w.counts[word]++
		}
	}
}

func (w *wordCounter) done() {}

func writeCounts(ws []worker, out *bufio.Writer) error {
	total := ws[0].(*wordCounter).counts
	for _, w := range ws[1:] {
		for word, n := range w.(*wordCounter).counts {
			total[word] += n
		}
	}
	words := make([]string, 0, len(total))
	for word := range total {
		words = append(words, word)
	}
	sort.Strings(words)
	var num []byte
	for _, word := range words {
		out.WriteString(word)
		out.WriteByte(' ')
		num = strconv.AppendInt(num[:0], int64(total[word]), 10)
		out.Write(num)
		out.WriteByte('\n')
	}
	return nil
}

// indexer keeps, per word, the docs it was seen in (each once).
type indexer struct{ docs map[string][]int32 }

func (x *indexer) line(doc int32) func(string) {
	return func(line string) {
		for _, word := range strings.FieldsFunc(line, notLetter) {
			ds := x.docs[word]
			if len(ds) > 0 && ds[len(ds)-1] == doc || slices.Contains(ds, doc) {
				continue
			}
			x.docs[word] = append(ds, doc)
		}
	}
}

func (x *indexer) done() {}

func writeIndex(ws []worker, names []string, out *bufio.Writer) error {
	all := ws[0].(*indexer).docs
	for _, w := range ws[1:] {
		for word, ds := range w.(*indexer).docs {
			have := all[word]
			for _, d := range ds {
				if !slices.Contains(have, d) {
					have = append(have, d)
				}
			}
			all[word] = have
		}
	}
	words := make([]string, 0, len(all))
	for word := range all {
		words = append(words, word)
	}
	sort.Strings(words)
	var num []byte
	for _, word := range words {
		ds := all[word]
		slices.Sort(ds) // doc numbers sort like their names
		out.WriteString(word)
		out.WriteByte(' ')
		num = strconv.AppendInt(num[:0], int64(len(ds)), 10)
		out.Write(num)
		out.WriteByte(' ')
		for i, d := range ds {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(names[d])
		}
		out.WriteByte('\n')
	}
	return nil
}

// sorter keeps its lines and sorts them once its chunks are read.
type sorter struct{ lines []string }

func (s *sorter) line(int32) func(string) {
	return func(line string) { s.lines = append(s.lines, line) }
}

func (s *sorter) done() { slices.Sort(s.lines) }

// writeSorted k-way merges the workers' sorted lines.
func writeSorted(ws []worker, out *bufio.Writer) error {
	h := &lineHeap{}
	for _, w := range ws {
		if lines := w.(*sorter).lines; len(lines) > 0 {
			h.runs = append(h.runs, lines)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		run := h.runs[0]
		out.WriteString(run[0])
		out.WriteByte('\n')
		if len(run) == 1 {
			heap.Pop(h)
			continue
		}
		h.runs[0] = run[1:]
		heap.Fix(h, 0)
	}
	return nil
}

// lineHeap orders sorted runs by their first line.
type lineHeap struct{ runs [][]string }

func (h *lineHeap) Len() int           { return len(h.runs) }
func (h *lineHeap) Less(i, j int) bool { return h.runs[i][0] < h.runs[j][0] }
func (h *lineHeap) Swap(i, j int)      { h.runs[i], h.runs[j] = h.runs[j], h.runs[i] }
func (h *lineHeap) Push(x any)         { h.runs = append(h.runs, x.([]string)) }
func (h *lineHeap) Pop() any {
	last := h.runs[len(h.runs)-1]
	h.runs = h.runs[:len(h.runs)-1]
	return last
}
