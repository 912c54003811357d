package job_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/pkg/job"
)

// grepPatterns are in the subset where Go's regexp and `grep -E` in the C locale agree.
var grepPatterns = []string{`^The`, `[0-9]+`, `ing$`, `\bthe\b`}

// namedInput is a test input whose documents are stored as files; the files' paths are the
// documents' names, so that the references, grep and sort read and print the same names.
type namedInput struct {
	name  string
	docs  [][]byte
	paths []string
}

// textInputs returns the inputs every text job is checked on: generated text and awkward cases.
func textInputs(t *testing.T) []namedInput {
	t.Helper()
	const split = 4096 // the smallest split size the tests use
	raw := []struct {
		name string
		docs [][]byte
	}{
		{"generated 600KB", [][]byte{generated(t, 600<<10, 11)}},
		{"generated several", [][]byte{generated(t, 200<<10, 12), generated(t, 1, 13), generated(t, 50000, 14)}},
		{"empty file", [][]byte{{}}},
		{"empty and non-empty", [][]byte{{}, []byte("The thing\nthe 12 things\n"), {}}},
		{"no trailing newline", [][]byte{[]byte("The end\nis coming"), []byte("nothing")}},
		{"CRLF", [][]byte{[]byte("The thing\r\nsinging\r\n\r\nThe 7\r\n")}},
		{"line longer than a split", [][]byte{[]byte("a\n" + strings.Repeat("the x9 ", 3*split) + "ing\nThe\n")}},
		{"invalid UTF-8", [][]byte{[]byte("ab\xffcd the\xff \xe6\x97 x\xc3\nThe\xc3\xa9 1\xff2 sing\xff\n\xff\xfe\n")}},
		{"duplicates and blanks", [][]byte{[]byte("b\na\n\nb\n\n a\na \na\n"), []byte("a\n\nb")}},
		{"non-ASCII", [][]byte{[]byte("café the Straße\nÉclair ing\n日本 naïve\nZ\n")}},
	}
	var inputs []namedInput
	for _, r := range raw {
		inputs = append(inputs, namedInput{r.name, r.docs, writeDocs(t, r.docs)})
	}
	// The same name twice: one file given twice, so the cluster receives its bytes twice.
	a, b := []byte("the cat\nand the dog\n"), []byte("a dog\n")
	paths := writeDocs(t, [][]byte{a, b})
	inputs = append(inputs, namedInput{"name given twice", [][]byte{a, b, a}, []string{paths[0], paths[1], paths[0]}})
	return inputs
}

// textCase is one job with its params and its reference.
type textCase struct {
	job    string
	params map[string]string
	ref    func(paths []string, w io.Writer) error
}

func (c textCase) String() string {
	if p, ok := c.params["pattern"]; ok {
		return c.job + " " + p
	}
	return c.job
}

func textCases() []textCase {
	cases := []textCase{
		{"indexer", nil, reference.Indexer},
		{"sort", nil, reference.Sort},
	}
	for _, p := range grepPatterns {
		cases = append(cases, textCase{"grep", map[string]string{"pattern": p}, func(paths []string, w io.Writer) error {
			return reference.Grep(p, paths, w)
		}})
	}
	return cases
}

func refOutput(t *testing.T, ref func([]string, io.Writer) error, paths []string) string {
	t.Helper()
	var b bytes.Buffer
	if err := ref(paths, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTextJobsMatchReference(t *testing.T) {
	for _, in := range textInputs(t) {
		for _, tc := range textCases() {
			want := refOutput(t, tc.ref, in.paths)
			for _, reducers := range []int{1, 3} {
				for _, split := range []int64{1 << 40, 4096} {
					t.Run(fmt.Sprintf("%s/%s/R=%d/split=%d", in.name, tc, reducers, split), func(t *testing.T) {
						spec := &job.Spec{Job: tc.job, Params: tc.params, Reducers: reducers, Docs: in.paths}
						res, err := runWith(t, spec, in.docs, runConfig{split: split, mappers: 3})
						if err != nil {
							t.Fatal(err)
						}
						assertSame(t, res.output, want)
						if tc.job == "sort" {
							assertSame(t, strings.Join(res.parts, ""), want) // range-partitioned
						}
					})
				}
			}
		}
	}
}

func TestTextJobsGutenberg(t *testing.T) {
	docs, paths := gutenbergFiles(t)
	for _, tc := range textCases() {
		want := refOutput(t, tc.ref, paths)
		if tc.job == "grep" && want == "" {
			t.Errorf("%s matches nothing in the Gutenberg texts: a weak test", tc)
		}
		for _, c := range []struct {
			reducers, mappers int
			split             int64
		}{{1, 1, 1 << 40}, {4, 3, 100 << 10}} {
			t.Run(fmt.Sprintf("%s/R=%d/M=%d/split=%d", tc, c.reducers, c.mappers, c.split), func(t *testing.T) {
				spec := &job.Spec{Job: tc.job, Params: tc.params, Reducers: c.reducers, Docs: paths}
				res, err := runWith(t, spec, docs, runConfig{split: c.split, mappers: c.mappers})
				if err != nil {
					t.Fatal(err)
				}
				assertSame(t, res.output, want)
			})
		}
	}
}

// TestReferencesMatchTools checks the references themselves against `grep -Hn -E` and
// `LC_ALL=C sort`, on the same inputs as the jobs, where those tools exist.
func TestReferencesMatchTools(t *testing.T) {
	inputs := textInputs(t)
	if paths, missing := gutenbergPaths(); missing == "" {
		inputs = append(inputs, namedInput{"gutenberg", nil, paths})
	} else {
		t.Logf("the tools are not run on the Gutenberg texts: %s", missing)
	}
	t.Run("grep", func(t *testing.T) {
		if _, err := exec.LookPath("grep"); err != nil {
			t.Skip("skipping the comparison with grep -Hn: no grep on this machine")
		}
		for _, in := range inputs {
			for _, p := range grepPatterns {
				want := tool(t, 1, "grep", append([]string{"-Hn", "-E", p}, in.paths...)...)
				assertSame(t, refOutput(t, func(paths []string, w io.Writer) error { return reference.Grep(p, paths, w) }, in.paths), want)
			}
		}
	})
	t.Run("sort", func(t *testing.T) {
		if _, err := exec.LookPath("sort"); err != nil {
			t.Skip("skipping the comparison with LC_ALL=C sort: no sort on this machine")
		}
		for _, in := range inputs {
			want := tool(t, -1, "sort", in.paths...)
			assertSame(t, refOutput(t, reference.Sort, in.paths), want)
		}
	})
}

// tool runs a command in the C locale and returns its standard output; exit status okStatus
// (grep's "no match") is not an error.
func tool(t *testing.T, okStatus int, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == okStatus && stderr.Len() == 0) {
		t.Fatalf("%s %q: %v: %s", name, args, err, stderr.String())
	}
	return string(out)
}

// TestSpillMatchesReference runs every job with a 64 KiB budget per mapper over a few MB, so that
// mappers spill many runs and merge them (in levels), and compares with the references.
func TestSpillMatchesReference(t *testing.T) {
	text := [][]byte{generated(t, 2<<20, 21), generated(t, 700<<10, 22)}
	paths := writeDocs(t, text)
	var nums bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&nums, "%d\n", i*7919%100003-50000)
	}
	numPaths := writeDocs(t, [][]byte{nums.Bytes()})
	cases := append(textCases(), textCase{"wordcount", nil, reference.WordCount}, textCase{"sum", nil, reference.Sum})
	for _, tc := range cases {
		docs, names := text, paths
		if tc.job == "sum" {
			docs, names = [][]byte{nums.Bytes()}, numPaths
		}
		want := refOutput(t, tc.ref, names)
		for _, reducers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/R=%d", tc, reducers), func(t *testing.T) {
				spec := &job.Spec{Job: tc.job, Params: tc.params, Reducers: reducers, Docs: names}
				res, err := runWith(t, spec, docs, runConfig{split: 256 << 10, mappers: 3, memory: 64 << 10})
				if err != nil {
					t.Fatal(err)
				}
				assertSame(t, res.output, want)
				// sum holds one number and never spills; a grep with few matches need not.
				if len(want) > 1<<20 && res.spills == 0 {
					t.Errorf("no spill file was created with a 64 KiB budget for %d bytes of output", len(want))
				}
				t.Logf("%d spill files", res.spills)
			})
		}
	}
}

// failingReader yields data, then fails.
type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestSpillRemovedOnError: a mapper whose Map fails removes the spill files it made.
func TestSpillRemovedOnError(t *testing.T) {
	data := generated(t, 512<<10, 31)
	for _, name := range []string{"wordcount", "indexer", "sort", "grep"} {
		j, _ := job.Lookup(name)
		dir := t.TempDir()
		spec := &job.Spec{Job: name, Reducers: 2, Docs: []string{"d"}, Params: map[string]string{"pattern": "e"}}
		if name != "grep" {
			spec.Params = nil
		}
		m, err := j.NewMapper(spec, job.MapEnv{Memory: 16 << 10, TempDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		before := job.SpillFilesCreated()
		task := job.Task{Length: int64(len(data)), FirstLine: 1}
		if err := m.Map(task, bytes.NewReader(data[:len(data)/2])); err != nil {
			t.Fatal(err)
		}
		if job.SpillFilesCreated() == before {
			t.Fatalf("%s: no spill", name)
		}
		err = m.Map(task, &failingReader{data[len(data)/2:]})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("%s: Map error = %v", name, err)
		}
		assertEmptyDir(t, dir)
	}
}

// TestSpillDirMissing: a spill that cannot create its file fails Map with a clear error.
func TestSpillDirMissing(t *testing.T) {
	j, _ := job.Lookup("sort")
	m, _ := j.NewMapper(&job.Spec{Job: "sort", Reducers: 1}, job.MapEnv{Memory: 1, TempDir: t.TempDir() + "/missing"})
	err := m.Map(job.Task{FirstLine: 1}, strings.NewReader("a\nb\n"))
	if err == nil || !strings.Contains(err.Error(), "sort: creating spill file") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Map error = %v", err)
	}
}

// TestSortBalance checks that sampled bounds balance the partitions of generated text: none gets
// more than twice the mean.
func TestSortBalance(t *testing.T) {
	docs := [][]byte{generated(t, 3<<20, 41), generated(t, 1<<20, 42)}
	var total int
	for _, d := range docs {
		total += len(d)
	}
	for _, r := range []int{4, 8} {
		spec := &job.Spec{Job: "sort", Reducers: r, Docs: []string{"a", "b"}}
		res, err := runWith(t, spec, docs, runConfig{split: 1 << 20, mappers: 2})
		if err != nil {
			t.Fatal(err)
		}
		mean := float64(total) / float64(r)
		var sizes []int
		for _, p := range res.parts {
			sizes = append(sizes, len(p))
			if float64(len(p)) > 2*mean {
				t.Errorf("R=%d: a partition has %d bytes, over twice the mean %.0f", r, len(p), mean)
			}
		}
		t.Logf("R=%d: partition sizes %v (mean %.0f)", r, sizes, mean)
	}
}

func TestSortBounds(t *testing.T) {
	s := must(job.Lookup("sort")).(job.Sampler)
	lines := func(ss ...string) [][]byte {
		var b [][]byte
		for _, s := range ss {
			b = append(b, []byte(s))
		}
		return b
	}
	tests := []struct {
		sample [][]byte
		r      int
		want   []string
	}{
		{nil, 4, nil},
		{lines("a", "b", "c", "d"), 1, nil},
		{lines("h", "g", "f", "e", "d", "c", "b", "a"), 4, []string{"c", "e", "g"}},
		{lines("x", "x", "x", "x", "y"), 4, []string{"x"}},
		{lines("", "", "", "a", "b", "c"), 3, []string{"b"}},
	}
	for _, tt := range tests {
		got := s.Bounds(tt.sample, tt.r)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Bounds(%q, %d) = %q, want %q", tt.sample, tt.r, got, tt.want)
		}
	}
}

// TestSortRangePartition: a key equal to a bound goes to the partition the bound starts.
func TestSortRangePartition(t *testing.T) {
	spec := &job.Spec{Job: "sort", Reducers: 4, Bounds: []string{"b", "d"}, Docs: []string{"x"}}
	res, err := runWith(t, spec, [][]byte{[]byte("e\nb\na\nd\nc\nbb\n\n")}, runConfig{split: 1 << 40, mappers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"\na\n", "b\nbb\nc\n", "d\ne\n", ""}; fmt.Sprintf("%q", res.parts) != fmt.Sprintf("%q", want) {
		t.Errorf("parts = %q, want %q", res.parts, want)
	}
	// No bounds with R > 1: correct, everything in partition 0.
	m := must(must(job.Lookup("sort")).NewMapper(&job.Spec{Job: "sort", Reducers: 3}, job.MapEnv{}))
	if err := m.Map(job.Task{FirstLine: 1}, strings.NewReader("z\na\n")); err != nil {
		t.Fatal(err)
	}
	var bufs [3]bytes.Buffer
	parts := []*job.RecordWriter{job.NewRecordWriter(&bufs[0]), job.NewRecordWriter(&bufs[1]), job.NewRecordWriter(&bufs[2])}
	if err := m.Finish(parts); err != nil {
		t.Fatal(err)
	}
	if bufs[0].Len() == 0 || bufs[1].Len()+bufs[2].Len() != 0 {
		t.Errorf("without bounds: partition sizes %d %d %d", bufs[0].Len(), bufs[1].Len(), bufs[2].Len())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes += int64(n)
	return n, err
}

func TestSampleLines(t *testing.T) {
	get := func(doc string, n int) []string {
		t.Helper()
		lines, err := job.SampleLines(strings.NewReader(doc), int64(len(doc)), n)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, l := range lines {
			s = append(s, string(l))
		}
		return s
	}
	tests := []struct {
		doc  string
		n    int
		want []string
	}{
		{"", 5, nil},
		{"abc", 0, nil},
		{"one line, no newline", 3, []string{"one line, no newline"}},
		{"aaaa\nbbbb\ncccc\ndddd\n", 4, []string{"aaaa", "bbbb", "cccc", "dddd"}},
		{"aaaa\nbbbb\ncccc\ndddd\n", 2, []string{"aaaa", "cccc"}},
		{"a\r\n\nccccc\nd", 4, []string{"a\r", "", "d"}}, // offsets 0, 2, 5, 8; 5 and 8 both land on "d"
	}
	for _, tt := range tests {
		if got := get(tt.doc, tt.n); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("SampleLines(%q, %d) = %q, want %q", tt.doc, tt.n, got, tt.want)
		}
	}
	// A long line is cut to 4 KiB; offsets inside it all land on the line after it, taken once.
	long := strings.Repeat("x", 10000)
	if got := get(long+"\nend\n", 10); len(got) != 2 || len(got[0]) != 4<<10 || got[1] != "end" {
		t.Errorf("long line: got %d lines of lengths %v", len(got), lens(got))
	}
	// A big document: about n lines, read in small pieces.
	doc := generated(t, 4<<20, 51)
	c := &countingReaderAt{r: bytes.NewReader(doc)}
	lines, err := job.SampleLines(c, int64(len(doc)), 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 490 || len(lines) > 500 {
		t.Errorf("sampled %d lines, want about 500", len(lines))
	}
	if c.bytes > int64(len(doc))/2 {
		t.Errorf("sampling read %d of %d bytes", c.bytes, len(doc))
	}
	for _, l := range lines {
		if !bytes.Contains(doc, append(append([]byte{'\n'}, l...), '\n')) && !bytes.HasPrefix(doc, l) {
			t.Fatalf("sampled %q, not a line of the document", l)
		}
	}
	// A failing reader fails the sampling.
	if _, err := job.SampleLines(strings.NewReader("short"), 100, 3); err == nil {
		t.Error("sampling past the end succeeded")
	}
}

func lens(s []string) []int {
	var n []int
	for _, x := range s {
		n = append(n, len(x))
	}
	return n
}

func TestCombiners(t *testing.T) {
	uv := func(ns ...uint64) []byte {
		var b []byte
		for _, n := range ns {
			b = appendUvarint(b, n)
		}
		return b
	}
	tests := []struct {
		job    string
		values [][]byte
		want   []byte
	}{
		{"wordcount", [][]byte{uv(3), uv(4), uv(300)}, uv(307)},
		{"sort", [][]byte{uv(1), uv(1)}, uv(2)},
		{"indexer", [][]byte{uv(0, 5, 9), uv(2, 5), uv(300)}, uv(0, 2, 5, 9, 300)},
		{"sum", [][]byte{[]byte("-5"), []byte("123456789012345678901234567890")}, []byte("123456789012345678901234567885")},
	}
	for _, tt := range tests {
		c := must(job.Lookup(tt.job)).(job.Combiner)
		var got [][]byte
		err := c.Combine([]byte("k"), tt.values, func(v []byte) error {
			got = append(got, bytes.Clone(v))
			return nil
		})
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], tt.want) {
			t.Errorf("%s: Combine = %x, %v; want %x", tt.job, got, err, tt.want)
		}
	}
	if _, ok := must(job.Lookup("grep")).(job.Combiner); ok {
		t.Error("grep has unique keys: it needs no Combiner")
	}
	bad := must(job.Lookup("wordcount")).(job.Combiner).Combine([]byte("k"), [][]byte{{0x80}}, func([]byte) error { return nil })
	if bad == nil {
		t.Error("a truncated count was combined")
	}
}

func appendUvarint(b []byte, n uint64) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}
