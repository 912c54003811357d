package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
)

// largeEnv names the environment variable that turns TestLarge on: the total input size in MB.
const largeEnv = "DLBP_LARGE_MB"

// largePattern is the grep pattern of TestLarge, in the subset Go and POSIX ERE agree on.
const largePattern = `^The|ing$`

// largeJob is one job TestLarge runs and what it is compared with.
type largeJob struct {
	name   string
	params []string // --param flags
	ref    func(paths []string, w io.Writer) error
	tool   *realTool // nil: no real tool does this job
	args   func(paths []string) []string
}

// TestLarge runs every text job on DLBP_LARGE_MB MB of generated text (several files, fixed
// seeds) through the real binaries, with R=1 and R=4 in both modes, and compares each output,
// streamed to a file, with internal/reference and with `LC_ALL=C grep -Hn -E`/`LC_ALL=C sort`
// where they are installed. scripts/verify-large.sh runs it.
func TestLarge(t *testing.T) {
	v := os.Getenv(largeEnv)
	if v == "" {
		t.Skipf("%s is not set: set it to the total input size in MB to run this test (scripts/verify-large.sh [MB] does)", largeEnv)
	}
	mb, err := strconv.Atoi(v)
	if err != nil || mb < 1 {
		t.Fatalf("%s=%q: want a whole number of MB, at least 1", largeEnv, v)
	}
	dir := t.TempDir()
	start := time.Now()
	inputs := generateInputs(t, filepath.Join(dir, "input"), int64(mb)<<20)
	t.Logf("%d MB of generated text in %d files in %v", mb, len(inputs), time.Since(start).Round(time.Millisecond))

	c := startCluster(t)
	c.checkNodesAlive(t)
	timeout := 2*time.Minute + time.Duration(mb)*3*time.Second

	jobs := []largeJob{
		{name: "wordcount", ref: reference.WordCount},
		{name: "indexer", ref: reference.Indexer},
		{name: "grep", params: []string{"--param", "pattern=" + largePattern},
			ref:  func(paths []string, w io.Writer) error { return reference.Grep(largePattern, paths, w) },
			tool: &grepTool, args: func(paths []string) []string { return append([]string{"-Hn", "-E", largePattern}, paths...) }},
		{name: "sort", ref: reference.Sort, tool: &sortTool, args: func(paths []string) []string { return paths }},
	}
	rate := func(d time.Duration) string {
		return fmt.Sprintf("%v (%.1f MB/s)", d.Round(time.Millisecond), float64(mb)/d.Seconds())
	}
	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			out := t.TempDir()
			refPath := filepath.Join(out, "reference")
			took := timed(func() {
				if err := writeFile(refPath, func(f *os.File) error {
					w := bufio.NewWriterSize(f, 1<<20)
					if err := j.ref(inputs, w); err != nil {
						return err
					}
					return w.Flush()
				}); err != nil {
					t.Fatalf("reference %s: %v", j.name, err)
				}
			})
			t.Logf("internal/reference %s: %s, %d bytes of output", j.name, rate(took), fileSize(t, refPath))
			toolPath := ""
			if j.tool != nil && j.tool.path != "" {
				toolPath = filepath.Join(out, "tool")
				took := timed(func() {
					if err := writeFile(toolPath, func(f *os.File) error {
						j.tool.run(t, nil, f, j.args(inputs)...)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				})
				t.Logf("LC_ALL=C %s: %s", j.tool.path, rate(took))
			}
			for _, mode := range modes {
				for _, r := range jobReducers {
					t.Run(fmt.Sprintf("%s/R=%d", mode, r), func(t *testing.T) {
						what := fmt.Sprintf("%s of %d MB mode %s R=%d", j.name, mb, mode, r)
						got := filepath.Join(out, "got")
						var open func() io.Reader
						var took time.Duration
						if j.name == "sort" && r > 1 {
							// Range-partitioned: `cat DIR/part-*` is the whole sorted output.
							what += ", --output DIR: cat DIR/part-*"
							took = timed(func() {
								mustDLBPIO(t, clientIO{Timeout: timeout}, submitArgs(c.lb[mode], j.name, r, []string{"--output", got}, inputs)...)
							})
							parts := partFiles(t, got, r)
							open = func() io.Reader { return multiOpen(t, parts) }
							defer os.RemoveAll(got)
						} else {
							f, err := os.Create(got)
							if err != nil {
								t.Fatal(err)
							}
							took = timed(func() {
								mustDLBPIO(t, clientIO{Stdout: f, Timeout: timeout}, submitArgs(c.lb[mode], j.name, r, j.params, inputs)...)
							})
							if err := f.Close(); err != nil {
								t.Fatal(err)
							}
							open = func() io.Reader { return openFile(t, got) }
							defer os.Remove(got)
						}
						t.Logf("%s: %s", what, rate(took))
						sameStream(t, what+" vs internal/reference", open(), refPath)
						if j.tool != nil {
							t.Run("vs_"+j.name, func(t *testing.T) {
								j.tool.skipIfAbsent(t)
								sameStream(t, what+" vs LC_ALL=C "+j.name, open(), toolPath)
							})
						}
					})
				}
			}
		})
	}
}

// generateInputs writes total bytes of corpus.Generate text into dir as several files (4 to
// 16, seeds 101, 102, …) and returns their paths.
func generateInputs(t *testing.T, dir string, total int64) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := min(max(total>>25, 4), 16) // about 32 MiB a file
	var paths []string
	for i := range n {
		size := total / n
		if i == n-1 {
			size = total - size*(n-1)
		}
		p := filepath.Join(dir, fmt.Sprintf("large-%02d.txt", i))
		if err := writeFile(p, func(f *os.File) error {
			w := bufio.NewWriterSize(f, 1<<20)
			if err := corpus.Generate(w, size, 101+i); err != nil {
				return err
			}
			return w.Flush()
		}); err != nil {
			t.Fatalf("generating %s: %v", p, err)
		}
		paths = append(paths, p)
	}
	return paths
}

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// partFiles checks that dir holds part-00000 … of r partitions, none empty, and an empty
// _SUCCESS, and returns the parts' paths in order.
func partFiles(t *testing.T, dir string, r int) []string {
	t.Helper()
	var parts []string
	for i := range r {
		p := filepath.Join(dir, fmt.Sprintf("part-%05d", i))
		if fileSize(t, p) == 0 {
			t.Errorf("%s is empty: the range partitioning left a partition without lines", p)
		}
		parts = append(parts, p)
	}
	if extra, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("part-%05d", r))); len(extra) > 0 {
		t.Errorf("%s holds more than %d parts", dir, r)
	}
	if fileSize(t, filepath.Join(dir, "_SUCCESS")) != 0 {
		t.Errorf("%s/_SUCCESS is not empty", dir)
	}
	return parts
}

// multiOpen is the concatenation of the files, like cat.
func multiOpen(t *testing.T, paths []string) io.Reader {
	t.Helper()
	var rs []io.Reader
	for _, p := range paths {
		rs = append(rs, openFile(t, p))
	}
	return io.MultiReader(rs...)
}

// sameStream compares got with the file wantPath chunk by chunk, without holding either
// whole, and fails the test at the first differing line.
func sameStream(t *testing.T, what string, got io.Reader, wantPath string) bool {
	t.Helper()
	want := openFile(t, wantPath)
	const chunk = 1 << 20
	gb, wb := make([]byte, chunk), make([]byte, chunk)
	var offset, line int64 = 0, 1
	for {
		gn, gerr := io.ReadFull(got, gb)
		wn, werr := io.ReadFull(want, wb)
		g, w := gb[:gn], wb[:wn]
		if !bytes.Equal(g, w) {
			i := 0
			for i < len(g) && i < len(w) && g[i] == w[i] {
				i++
			}
			line += int64(bytes.Count(g[:i], []byte("\n")))
			t.Errorf("%s: output differs from %s at byte %d, line %d:\n  got:  %s\n  want: %s",
				what, wantPath, offset+int64(i), line, lineAt(g, i), lineAt(w, i))
			return false
		}
		offset += int64(gn)
		line += int64(bytes.Count(g, []byte("\n")))
		gend, wend := gerr == io.EOF || gerr == io.ErrUnexpectedEOF, werr == io.EOF || werr == io.ErrUnexpectedEOF
		if gerr != nil && !gend {
			t.Fatalf("%s: reading the output: %v", what, gerr)
		}
		if werr != nil && !wend {
			t.Fatalf("%s: reading %s: %v", what, wantPath, werr)
		}
		if gend || wend {
			return true // equal chunks and one ended short: both ended
		}
	}
}

// lineAt quotes the line of b that holds byte i (cut at the chunk's edges), or says b ended.
func lineAt(b []byte, i int) string {
	if i >= len(b) {
		return "(end of output)"
	}
	start, stop := bytes.LastIndexByte(b[:i], '\n')+1, len(b)
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		stop = i + j + 1
	}
	return strconv.Quote(string(b[start:stop]))
}
