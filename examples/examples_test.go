// Package examples_test runs every example as dlbp would, as separate processes speaking the
// streaming contract, and compares their output byte for byte with independent references:
// internal/reference for wordcount, indexer and grep, and a nested-loop join written here.
//
// The test builds the examples natively once, then for each job cuts every input into splits at
// line boundaries, runs `map` on each split (with DLBP_INPUT and DLBP_INPUT_LINE set), for
// wordcount runs `combine` on each map output sorted by key, partitions the records by
// fnv1a32(key) mod 3, sorts each partition by key bytes, runs `reduce` on each, and compares the
// sorted lines of the reducers' outputs with the reference's. It also builds each example for
// GOOS=wasip1 GOARCH=wasm (without running it) and logs the modules' sizes.
package examples_test

import (
	"bytes"
	"fmt"
	"go/build"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
)

var examples = []string{"wordcount", "indexer", "grep", "join"}

// reducers is R, the number of partitions of every job.
const reducers = 3

// bin is the directory of the native builds, made by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dlbp-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 0
	if out, err := goCmd(nil, append([]string{"build", "-o", dir + string(filepath.Separator)}, packages()...)...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the examples: %v\n%s", err, out)
		code = 1
	} else {
		bin = dir
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// packages returns the examples' package paths, relative to this directory.
func packages() []string {
	var pkgs []string
	for _, e := range examples {
		pkgs = append(pkgs, "./"+e)
	}
	return pkgs
}

// goCmd returns the go command with args, with env added to the environment.
func goCmd(env []string, args ...string) *exec.Cmd {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	cmd := exec.Command(gobin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestWasmBuild builds every example as a WebAssembly module, as users will.
func TestWasmBuild(t *testing.T) {
	dir := t.TempDir()
	for _, e := range examples {
		out := filepath.Join(dir, e+".wasm")
		if msg, err := goCmd([]string{"GOOS=wasip1", "GOARCH=wasm"}, "build", "-o", out, "./"+e).CombinedOutput(); err != nil {
			t.Fatalf("GOOS=wasip1 GOARCH=wasm go build ./%s: %v\n%s", e, err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s.wasm: %d bytes (%.2f MB)", e, fi.Size(), float64(fi.Size())/1e6)
	}
}

// run runs the example's role with exactly env as its environment (a module sees nothing else)
// and stdin, and returns its standard output; it fails the test if the program fails.
func run(t *testing.T, example, role string, env []string, stdin []byte) []byte {
	t.Helper()
	out, stderr, err := runStatus(example, role, env, stdin)
	if err != nil {
		t.Fatalf("%s %s (%q): %v\n%s", example, role, env, err, stderr)
	}
	return out
}

func runStatus(example, role string, env []string, stdin []byte) (stdout, stderr []byte, err error) {
	cmd := exec.Command(filepath.Join(bin, example), role)
	cmd.Env = append([]string{}, env...) // not nil, which would mean this process's environment
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// split is one map task's input.
type split struct {
	line int64 // its first line's number in the document
	data []byte
}

// splits cuts data into up to three splits at line boundaries, as dlbp cuts a document. An empty
// document is one empty split.
func splits(data []byte) []split {
	var out []split
	start := 0
	for _, cut := range []int{len(data) / 3, 2 * len(data) / 3, len(data)} {
		if cut < start {
			continue
		}
		if cut < len(data) {
			if i := bytes.IndexByte(data[cut:], '\n'); i >= 0 {
				cut += i + 1
			} else {
				cut = len(data)
			}
		}
		if cut > start || len(data) == 0 && len(out) == 0 {
			out = append(out, split{line: 1 + int64(bytes.Count(data[:start], []byte{'\n'})), data: data[start:cut]})
		}
		start = cut
	}
	return out
}

// record is a key and value, as the shuffle sees them.
type record struct{ key, value []byte }

// parseRecords reads a mapper's (or combiner's) output: a line without a tab is a key with an
// empty value.
func parseRecords(t *testing.T, out []byte) []record {
	t.Helper()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: …%q", out[max(0, len(out)-40):])
	}
	var recs []record
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		line := out[:i]
		out = out[i+1:]
		k, v, _ := bytes.Cut(line, []byte{'\t'})
		recs = append(recs, record{k, v})
	}
	return recs
}

// sortedInput sorts records by key bytes and writes them in the reducer's format.
func sortedInput(recs []record) []byte {
	slices.SortStableFunc(recs, func(a, b record) int { return bytes.Compare(a.key, b.key) })
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.key)
		b.WriteByte('\t')
		b.Write(r.value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// job is one run of an example.
type job struct {
	example string
	inputs  []string          // document names, as typed (here: paths)
	params  map[string]string // --param
	combine bool
}

// run runs the job as dlbp would and returns its output's lines, sorted.
func (j job) run(t *testing.T) []string {
	t.Helper()
	common := []string{"DLBP_JOB=test-" + j.example, "DLBP_ATTEMPT=1", "DLBP_REDUCERS=" + strconv.Itoa(reducers)}
	for k, v := range j.params {
		common = append(common, "DLBP_PARAM_"+k+"="+v)
	}
	var recs []record
	task := 0
	for _, doc := range j.inputs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range splits(data) {
			env := append(slices.Clip(common), "DLBP_TASK="+strconv.Itoa(task), "DLBP_INPUT="+doc,
				"DLBP_INPUT_LINE="+strconv.FormatInt(s.line, 10))
			task++
			out := run(t, j.example, "map", env, s.data)
			if j.combine {
				out = run(t, j.example, "combine", env, sortedInput(parseRecords(t, out)))
			}
			recs = append(recs, parseRecords(t, out)...)
		}
	}
	parts := make([][]record, reducers)
	for _, r := range recs {
		h := fnv.New32a()
		h.Write(r.key)
		p := h.Sum32() % reducers
		parts[p] = append(parts[p], r)
	}
	var output []byte
	for p, part := range parts {
		env := append(slices.Clip(common), "DLBP_TASK="+strconv.Itoa(p), "DLBP_PARTITION="+strconv.Itoa(p))
		output = append(output, run(t, j.example, "reduce", env, sortedInput(part))...)
	}
	return sortedLines(t, output)
}

// sortedLines returns the lines of text, which must end with a newline unless empty, sorted.
func sortedLines(t *testing.T, text []byte) []string {
	t.Helper()
	if len(text) == 0 {
		return nil
	}
	if text[len(text)-1] != '\n' {
		t.Fatalf("output does not end with a newline: …%q", text[max(0, len(text)-40):])
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	slices.Sort(lines)
	return lines
}

// compare fails the test unless got and want are the same lines, showing the first difference.
func compare(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		t.Logf("%s: %d lines, as the reference", what, len(got))
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return strconv.Quote(l[i])
		}
		return "(end)"
	}
	t.Errorf("%s: %d lines, the reference %d; first difference at sorted line %d:\n got  %s\n want %s",
		what, len(got), len(want), i+1, at(got), at(want))
}

// inputs returns the test's documents, about 2 MB: Gutenberg texts when present, generated
// English-like text (with non-ASCII letters; the texts are ASCII) to make up the rest, and
// awkward files, one of them named twice.
func inputs(t *testing.T) []string {
	t.Helper()
	var docs []string
	books, _ := filepath.Glob("/work/shared/data/gutenberg/*.txt")
	slices.Sort(books)
	var total int64
	for _, b := range books {
		if fi, err := os.Stat(b); err == nil && total+fi.Size() <= 1600<<10 {
			docs = append(docs, b)
			total += fi.Size()
		}
	}
	dir := t.TempDir()
	for i := 0; total < 2<<20; i++ {
		size := min(600<<10, 2<<20-total)
		var text bytes.Buffer
		if err := corpus.Generate(&text, size, int64(i+1)); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, write(t, dir, fmt.Sprintf("generated-%d.txt", i), text.Bytes()))
		total += size
	}
	long := strings.Repeat("word café 42 ", 20000) + "love\tlast" // longer than the SDK's 64 KiB buffer
	awkward := []struct{ name, text string }{
		{"empty.txt", ""},
		{"no-newline.txt", "first line\nthe last line has no newline, love"},
		{"binary.txt", "caf\xc3\xa9 na\xefve \xff\xfeword\x00zero\xe2\x82 cut\n\xc3\n\xef\xbf\xbd replacement\xef\xbf\xbdchar\n"},
		{"crlf.txt", "Line one\r\nLine two, love\r\n\r\nlast\r\n"},
		{"tabs.txt", "a\tb\tc\nkey\tvalue with love\n\t\n\n"},
		{"unicode.txt", "日本語のテキスト Ελληνικά ﬁne ǅungla ١٢٣ Straße\nΑΒΓ αβγ\n"},
		{"long.txt", "short\n" + long + "\nafter the long line\n" + long},
	}
	for _, a := range awkward {
		docs = append(docs, write(t, dir, a.name, []byte(a.text)))
	}
	return append(docs, filepath.Join(dir, "crlf.txt")) // named twice
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// referenceLines runs a reference and returns its lines, sorted.
func referenceLines(t *testing.T, fn func(w *bytes.Buffer) error) []string {
	t.Helper()
	var out bytes.Buffer
	if err := fn(&out); err != nil {
		t.Fatal(err)
	}
	return sortedLines(t, out.Bytes())
}

func TestWordCount(t *testing.T) {
	docs := inputs(t)
	want := referenceLines(t, func(w *bytes.Buffer) error { return reference.WordCount(docs, w) })
	compare(t, "wordcount with combiner", job{example: "wordcount", inputs: docs, combine: true}.run(t), want)
	compare(t, "wordcount without combiner", job{example: "wordcount", inputs: docs[len(docs)-8:]}.run(t),
		referenceLines(t, func(w *bytes.Buffer) error { return reference.WordCount(docs[len(docs)-8:], w) }))
}

func TestIndexer(t *testing.T) {
	docs := inputs(t)
	want := referenceLines(t, func(w *bytes.Buffer) error { return reference.Indexer(docs, w) })
	compare(t, "indexer", job{example: "indexer", inputs: docs}.run(t), want)
}

func TestGrep(t *testing.T) {
	docs := inputs(t)
	for _, pattern := range []string{"love", `^$`, `(?i)caf[eé]|\t`, `o$`, `\r$`, `^[A-Z ]+$`, `[^\x00-\x7f]`} {
		want := referenceLines(t, func(w *bytes.Buffer) error { return reference.Grep(pattern, docs, w) })
		compare(t, "grep "+pattern, job{example: "grep", inputs: docs, params: map[string]string{"pattern": pattern}}.run(t), want)
	}
	// A missing or bad pattern fails every map task, even of an empty split.
	for _, env := range [][]string{nil, {"DLBP_PARAM_pattern=("}} {
		for _, stdin := range []string{"", "a line\n"} {
			_, stderr, err := runStatus("grep", "map", env, []byte(stdin))
			if e, ok := err.(*exec.ExitError); !ok || e.ExitCode() != 1 || !bytes.Contains(stderr, []byte("pattern")) {
				t.Errorf("grep map with %q: %v, stderr %q", env, err, stderr)
			}
		}
	}
}

// joinInputs writes a left and two right TSV files: keys on one side only, many-to-many keys,
// the empty key, lines without a tab, rests with tabs and spaces, CRLF lines and empty lines.
func joinInputs(t *testing.T) (left string, right []string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(name string, n, keys, offset int) string {
		var b bytes.Buffer
		for i := range n {
			k := fmt.Sprintf("k%03d", offset+rng.IntN(keys))
			switch rng.IntN(20) {
			case 0:
				b.WriteString(k + "\n") // no tab: an empty rest
			case 1:
				b.WriteString("\n") // skipped
			case 2:
				fmt.Fprintf(&b, "%s\tcrlf %d\r\n", k, i)
			case 3:
				fmt.Fprintf(&b, "\tthe empty key %d\n", i)
			case 4:
				fmt.Fprintf(&b, "%s with space\t%d\n", k, i)
			default:
				fmt.Fprintf(&b, "%s\t%s %d\tmore\tfields %d\n", k, name, i, rng.IntN(5))
			}
		}
		return write(t, dir, name, b.Bytes())
	}
	left = gen("users.tsv", 2000, 300, 0)
	right = []string{gen("orders.tsv", 3000, 300, 100), gen("more orders.tsv", 1500, 200, 150)}
	write(t, dir, "empty.tsv", nil)
	return left, append(right, filepath.Join(dir, "empty.tsv"))
}

// referenceJoin is the join by nested loops over every pair of a left and a right record.
func referenceJoin(t *testing.T, left string, right []string) []string {
	t.Helper()
	read := func(path string) [][2]string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var recs [][2]string
		for _, line := range strings.Split(string(data), "\n") {
			if line == "" {
				continue
			}
			k, rest, _ := strings.Cut(line, "\t")
			recs = append(recs, [2]string{k, rest})
		}
		return recs
	}
	var rs [][2]string
	for _, r := range right {
		rs = append(rs, read(r)...)
	}
	var out []string
	for _, l := range read(left) {
		for _, r := range rs {
			if l[0] == r[0] {
				out = append(out, l[0]+"\t"+l[1]+"\t"+r[1])
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestJoin(t *testing.T) {
	left, right := joinInputs(t)
	want := referenceJoin(t, left, right)
	if len(want) < 1000 {
		t.Fatalf("the test inputs join to only %d lines", len(want))
	}
	docs := append([]string{right[0], left}, right[1:]...)
	got := job{example: "join", inputs: docs, params: map[string]string{"left": left}}.run(t)
	compare(t, "join", got, want)
	// Within a key, the output is in a fixed order: left records sorted, then right ones.
	out := run(t, "join", "reduce", nil, []byte("k\tRb\nk\tLy\nk\tRa\nk\tLx\nk\tRa\n"))
	if want := "k\tx\ta\nk\tx\ta\nk\tx\tb\nk\ty\ta\nk\ty\ta\nk\ty\tb\n"; string(out) != want {
		t.Errorf("join reduce wrote %q, want %q", out, want)
	}
	// Without --param left, every map task fails.
	if _, stderr, err := runStatus("join", "map", []string{"DLBP_INPUT=" + left}, nil); err == nil || !bytes.Contains(stderr, []byte("--param left")) {
		t.Errorf("join map without left: %v, stderr %q", err, stderr)
	}
}

// TestSplitsIndependent checks the test's own splitting: splits cover the document, in order,
// each (but the last) ending at a '\n', with correct first line numbers.
func TestSplitsIndependent(t *testing.T) {
	for _, doc := range []string{"", "a", "a\n", "a\nb\nc\nd\n", "one long line\nx", "\n\n\n\n\n\n"} {
		var joined []byte
		line := int64(1)
		for _, s := range splits([]byte(doc)) {
			if s.line != line {
				t.Errorf("%q: split at line %d, want %d", doc, s.line, line)
			}
			joined = append(joined, s.data...)
			line += int64(bytes.Count(s.data, []byte{'\n'}))
		}
		if string(joined) != doc {
			t.Errorf("%q: splits join to %q", doc, joined)
		}
	}
}
