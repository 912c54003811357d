package job_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/pkg/job"
)

// run executes spec over docs the way the cluster does, in one process, with the default memory
// budget: see runWith.
func run(t *testing.T, spec *job.Spec, docs [][]byte, splitSize int64, mappers int) (string, error) {
	t.Helper()
	res, err := runWith(t, spec, docs, runConfig{split: splitSize, mappers: mappers})
	return res.output, err
}

// runConfig says how runWith runs a job.
type runConfig struct {
	split   int64
	mappers int
	memory  int64 // each mapper's budget; 0: the default
	runner  job.Runner
}

// runResult is what a run produced.
type runResult struct {
	output string   // MergeOutput over the parts
	parts  []string // each part as WriteLines prints it (part-NNNNN)
	spills int64    // spill files the mappers created
}

// runWith executes spec over docs the way the cluster does, in one process: for a Sampler job
// with R > 1 it samples the documents and sets the bounds (as maplb does), the Cutter splits,
// tasks are dealt round-robin to several mappers (each with its own spill directory, checked
// empty after Finish), Map and Finish, ReducePartition per partition over every mapper's partial,
// then MergeOutput over the parts. It also checks each part on its own.
func runWith(t *testing.T, spec *job.Spec, docs [][]byte, cfg runConfig) (runResult, error) {
	t.Helper()
	splitSize, mappers := cfg.split, cfg.mappers
	j, err := job.Lookup(spec.Job)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(spec, len(docs) > 0); err != nil {
		return runResult{}, err
	}
	if s, ok := j.(job.Sampler); ok && spec.Reducers > 1 && spec.Bounds == nil {
		spec = withBounds(t, spec, s, docs)
	}
	rng := rand.New(rand.NewPCG(uint64(splitSize), uint64(mappers)))
	var tasks []job.Task
	if len(docs) == 0 {
		tasks, err = j.(job.Generator).GenerateTasks(spec, 2*mappers)
		if err != nil {
			return runResult{}, err
		}
	}
	for d, data := range docs {
		c := job.NewCutter(d, splitSize)
		for p := data; len(p) > 0; { // upload in uneven chunks
			n := min(len(p), 1+rng.IntN(16<<10))
			c.Write(p[:n])
			p = p[n:]
		}
		tasks = append(tasks, c.Close()...)
	}
	if len(tasks) == 0 { // all documents empty: the scheduler still runs one (empty) task
		tasks = []job.Task{{Doc: 0, FirstLine: 1}}
	}

	spillsBefore := job.SpillFilesCreated()
	partials := make([][]*bytes.Buffer, spec.Reducers) // [partition][mapper]
	for m := range min(mappers, len(tasks)) {
		dir := t.TempDir()
		mapper, err := j.NewMapper(spec, job.MapEnv{Memory: cfg.memory, TempDir: dir, Runner: cfg.runner, JobID: "j1", Task: m})
		if err != nil {
			t.Fatal(err)
		}
		for i := m; i < len(tasks); i += mappers {
			task := tasks[i]
			var r io.Reader
			if !task.Generated() {
				r = bytes.NewReader(docs[task.Doc][task.Offset : task.Offset+task.Length])
			}
			if err := mapper.Map(task, r); err != nil {
				assertEmptyDir(t, dir)
				return runResult{}, err
			}
		}
		parts := make([]*job.RecordWriter, spec.Reducers)
		for p := range parts {
			buf := new(bytes.Buffer)
			partials[p] = append(partials[p], buf)
			parts[p] = job.NewRecordWriter(buf)
		}
		if err := mapper.Finish(parts); err != nil {
			t.Fatal(err)
		}
		assertEmptyDir(t, dir)
	}
	res := runResult{spills: job.SpillFilesCreated() - spillsBefore}

	outputs := make([]io.Reader, spec.Reducers)
	var partLines int
	for p := range outputs {
		var inputs []io.Reader
		for _, b := range partials[p] {
			inputs = append(inputs, b)
		}
		var out bytes.Buffer
		if err := job.ReduceTask(spec, job.ReduceEnv{Runner: cfg.runner, JobID: "j1", Partition: p}, inputs, job.NewRecordWriter(&out)); err != nil {
			return runResult{}, err
		}
		var lines bytes.Buffer
		if err := job.WriteLines(bytes.NewReader(out.Bytes()), &lines); err != nil {
			t.Fatal(err)
		}
		partLines += bytes.Count(lines.Bytes(), []byte{'\n'})
		res.parts = append(res.parts, lines.String())
		outputs[p] = &out
	}
	var result bytes.Buffer
	if err := job.MergeOutput(outputs, &result); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(result.Bytes(), []byte{'\n'}); n != partLines {
		t.Fatalf("merged output has %d lines, the parts %d", n, partLines)
	}
	res.output = result.String()
	return res, nil
}

// withBounds returns a copy of spec with the bounds a Sampler job computes from about 100 lines
// per partition, sampled from the documents in proportion to their sizes, as maplb does.
func withBounds(t *testing.T, spec *job.Spec, s job.Sampler, docs [][]byte) *job.Spec {
	t.Helper()
	var total int
	for _, d := range docs {
		total += len(d)
	}
	var sample [][]byte
	for _, d := range docs {
		if len(d) == 0 {
			continue
		}
		n := 1 + 100*spec.Reducers*len(d)/total
		lines, err := job.SampleLines(bytes.NewReader(d), int64(len(d)), n)
		if err != nil {
			t.Fatal(err)
		}
		sample = append(sample, lines...)
	}
	c := *spec
	c.Bounds = s.Bounds(sample, spec.Reducers)
	return &c
}

// assertEmptyDir fails unless dir holds no file: a mapper removes its spill files.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("spill directory still holds %d files (%s, …)", len(entries), entries[0].Name())
	}
}

// writeDocs stores docs as files for the reference implementations.
func writeDocs(t *testing.T, docs [][]byte) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, d := range docs {
		p := filepath.Join(dir, fmt.Sprintf("doc%d.txt", i))
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// gutenberg returns the shared Gutenberg texts, or skips the test when they are absent (a clone
// without ../shared).
func gutenberg(t testing.TB) [][]byte {
	t.Helper()
	docs, _ := gutenbergFiles(t)
	return docs
}

// gutenbergFiles returns the shared Gutenberg texts and their absolute paths, or skips the test
// when they are absent.
func gutenbergFiles(t testing.TB) ([][]byte, []string) {
	t.Helper()
	paths, missing := gutenbergPaths()
	if missing != "" {
		t.Skip("skipping: " + missing)
	}
	var docs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs, paths
}

// gutenbergPaths finds the Gutenberg texts in ../shared/data/gutenberg relative to the module
// root, or says why there are none.
func gutenbergPaths() (paths []string, missing string) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err.Error()
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, "no go.mod above the working directory, so no ../shared/data/gutenberg"
		}
		dir = parent
	}
	where := filepath.Join(filepath.Dir(dir), "shared", "data", "gutenberg")
	paths, _ = filepath.Glob(filepath.Join(where, "*.txt"))
	if len(paths) == 0 {
		return nil, "Gutenberg texts not found in " + where
	}
	return paths, ""
}

func generated(t testing.TB, size int64, seed int64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := corpus.Generate(&b, size, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wordcountEdgeDocs are inputs at the edges of the word definition and of the mapper's chunking.
func wordcountEdgeDocs() map[string][][]byte {
	chunk := 64 << 10 // the mapper's read buffer
	return map[string][][]byte{
		"empty file":           {[]byte("")},
		"empty and non-empty":  {[]byte(""), []byte("a b a\n"), []byte("")},
		"no trailing newline":  {[]byte("hello world\nhello")},
		"CRLF":                 {[]byte("Hello\r\nworld\r\nHello\r\n")},
		"invalid UTF-8":        {[]byte("ab\xffcd \xe6\x97 x\xc3\nq\xe6\x97\xa5\xe6\x9c\xac\xc3\xa9\xc3")},
		"non-ASCII letters":    {[]byte("café naïve Straße STRASSE ß Ω ωmega 日本 日本語 É e\u0301 Ångström\n")},
		"replacement char":     {[]byte("a\uFFFDb\n")},
		"digits and marks":     {[]byte("abc123def_ghi don't x-ray a.b,c;d\ttab\n")},
		"case kept":            {[]byte("The the THE tHe\n")},
		"rune at chunk end":    {[]byte(strings.Repeat("a", chunk-1) + "é" + "b c\n")},
		"word at chunk end":    {[]byte(strings.Repeat(" ", chunk-3) + "wordy words\n")},
		"word longer than buf": {[]byte("x " + strings.Repeat("é", 3*chunk) + "z y\n" + strings.Repeat("q", 5*chunk))},
		"only separators":      {[]byte("1 2 3\n\n--\n")},
	}
}

func TestWordcountMatchesReference(t *testing.T) {
	type input struct {
		name string
		docs [][]byte
	}
	inputs := []input{
		{"generated 1MB seed 1", [][]byte{generated(t, 1<<20, 1)}},
		{"generated several", [][]byte{generated(t, 300<<10, 2), generated(t, 1, 3), generated(t, 77777, 4)}},
	}
	for name, docs := range wordcountEdgeDocs() {
		inputs = append(inputs, input{name, docs})
	}
	for _, in := range inputs {
		want := referenceOutput(t, reference.WordCount, in.docs)
		for _, reducers := range []int{1, 3} {
			for _, split := range []int64{1 << 40, 4096, 1} {
				if split == 1 && len(bytes.Join(in.docs, nil)) > 1<<20 {
					continue // a task per line: too slow for nothing new
				}
				name := fmt.Sprintf("%s/R=%d/split=%d", in.name, reducers, split)
				t.Run(name, func(t *testing.T) {
					got, err := run(t, &job.Spec{Job: "wordcount", Reducers: reducers}, in.docs, split, 3)
					if err != nil {
						t.Fatal(err)
					}
					assertSame(t, got, want)
				})
			}
		}
	}
}

func TestWordcountGutenberg(t *testing.T) {
	docs := gutenberg(t)
	want := referenceOutput(t, reference.WordCount, docs)
	for _, tc := range []struct {
		reducers, mappers int
		split             int64
	}{{1, 1, 1 << 40}, {3, 3, 100 << 10}, {3, 4, 7777}, {7, 2, 64 << 10}} {
		t.Run(fmt.Sprintf("R=%d/M=%d/split=%d", tc.reducers, tc.mappers, tc.split), func(t *testing.T) {
			got, err := run(t, &job.Spec{Job: "wordcount", Reducers: tc.reducers}, docs, tc.split, tc.mappers)
			if err != nil {
				t.Fatal(err)
			}
			assertSame(t, got, want)
		})
	}
}

func TestSumMatchesReference(t *testing.T) {
	ints := func(n int, seed int64) []byte {
		var b bytes.Buffer
		if err := corpus.Integers(&b, n, seed); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	inputs := []struct {
		name string
		docs [][]byte
	}{
		{"generated integers", [][]byte{ints(20000, 1)}},
		{"several documents", [][]byte{ints(3000, 2), ints(1, 3), ints(5000, 4)}},
		{"negative total", [][]byte{[]byte("-9223372036854775808\n-9223372036854775808\n-1\n")}},
		{"huge values", [][]byte{[]byte("  +123456789012345678901234567890  \r\n\n-5\n99999999999999999999")}},
		{"empty file", [][]byte{{}}},
		{"empty files", [][]byte{{}, []byte("\n\n"), {}}},
		{"zero", [][]byte{[]byte("5\n-5\n")}},
	}
	for _, in := range inputs {
		want := referenceOutput(t, reference.Sum, in.docs)
		for _, reducers := range []int{1, 3} {
			for _, split := range []int64{1 << 40, 1000, 1} {
				t.Run(fmt.Sprintf("%s/R=%d/split=%d", in.name, reducers, split), func(t *testing.T) {
					got, err := run(t, &job.Spec{Job: "sum", Reducers: reducers}, in.docs, split, 3)
					if err != nil {
						t.Fatal(err)
					}
					assertSame(t, got, want)
				})
			}
		}
	}
}

func TestSumRangeMatchesReference(t *testing.T) {
	ranges := [][2]string{
		{"1", "100"}, {"1", "1000000000"}, {"-10", "10"}, {"-10", "-3"}, {"0", "0"}, {"7", "7"},
		{"-9223372036854775808", "9223372036854775807"},
		{"1", "100000000000000000000000000000"},
		{"-100000000000000000000000000000", "3"},
	}
	for _, rg := range ranges {
		var want bytes.Buffer
		if err := reference.SumRange(rg[0], rg[1], &want); err != nil {
			t.Fatal(err)
		}
		for _, reducers := range []int{1, 3} {
			for _, mappers := range []int{1, 4} {
				spec := &job.Spec{Job: "sum", Reducers: reducers, Params: map[string]string{"range": rg[0] + ".." + rg[1]}}
				got, err := run(t, spec, nil, 0, mappers)
				if err != nil {
					t.Fatalf("%s..%s: %v", rg[0], rg[1], err)
				}
				if got != want.String() {
					t.Errorf("%s..%s R=%d M=%d: got %q, want %q", rg[0], rg[1], reducers, mappers, got, want.String())
				}
			}
		}
	}
}

func TestSumBadRecordFailsJob(t *testing.T) {
	docs := [][]byte{[]byte("1\n2\n"), []byte("3\n4\n5\n6\nseven\n8\n")}
	spec := &job.Spec{Job: "sum", Reducers: 2, Docs: []string{"a.txt", "nums/b.txt"}}
	for _, split := range []int64{1 << 40, 1} {
		_, err := run(t, spec, docs, split, 2)
		var re *job.RecordError
		if !errors.As(err, &re) || err.Error() != `nums/b.txt:5: not an integer: "seven"` {
			t.Errorf("split %d: error %v, want the RecordError of nums/b.txt:5", split, err)
		}
	}
}

func referenceOutput(t testing.TB, ref func([]string, io.Writer) error, docs [][]byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := ref(writeDocs(t.(*testing.T), docs), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// assertSame compares outputs, showing the first differing line rather than megabytes.
func assertSame(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("output differs at line %d (got %d lines, want %d):\n got %q\nwant %q", i+1, len(g), len(w), gl, wl)
		}
	}
	t.Fatal("outputs differ")
}

func BenchmarkWordcountReduce(b *testing.B) {
	data := generated(b, 8<<20, 1)
	spec := &job.Spec{Job: "wordcount", Reducers: 1}
	j, _ := job.Lookup("wordcount")
	var partials [][]byte
	for i := range 8 { // eight mappers, each over an eighth of the text
		m, _ := j.NewMapper(spec, job.MapEnv{})
		part := data[i*len(data)/8 : (i+1)*len(data)/8]
		m.Map(job.Task{Length: int64(len(part)), FirstLine: 1}, bytes.NewReader(part))
		var buf bytes.Buffer
		m.Finish([]*job.RecordWriter{job.NewRecordWriter(&buf)})
		partials = append(partials, buf.Bytes())
	}
	for b.Loop() {
		var inputs []io.Reader
		for _, p := range partials {
			inputs = append(inputs, bytes.NewReader(p))
		}
		red, _ := j.NewReducer(spec)
		if err := job.ReducePartition(red, inputs, job.NewRecordWriter(io.Discard)); err != nil {
			b.Fatal(err)
		}
	}
}
