package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/reference"
)

// The reducer counts the indexer, grep and sort checks run with, in both modes.
var jobReducers = []int{1, 4}

// grepPatterns are in the subset where Go's regexp and POSIX ERE agree, so `grep -E` is a
// second, independent reference. The last one matches nothing (grep exits 1).
var grepPatterns = []struct{ name, re string }{
	{"starts_The", `^The`},
	{"digits", `[0-9]+`},
	{"ends_ing", `ing$`},
	{"no_match", `^zq{3}x$`},
}

// typedInputs makes the texts' directory the test's working directory and returns the texts
// as a user could type them there: a bare name, a "./" name, an absolute path, in turn. Doc
// names are the paths as typed, so the indexer and grep outputs must show all three forms.
func typedInputs(t *testing.T) []string {
	t.Helper()
	dir := filepath.Dir(texts[0])
	for _, p := range texts {
		if filepath.Dir(p) != dir {
			return texts
		}
	}
	t.Chdir(dir)
	typed := make([]string, len(texts))
	for i, p := range texts {
		switch i % 3 {
		case 0:
			typed[i] = filepath.Base(p)
		case 1:
			typed[i] = "./" + filepath.Base(p)
		default:
			typed[i] = p
		}
	}
	return typed
}

// refOutput returns what a reference function writes.
func refOutput(t *testing.T, what string, ref func(w io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ref(&b); err != nil {
		t.Fatalf("reference %s: %v", what, err)
	}
	return b.Bytes()
}

// realTool is a Unix tool run with LC_ALL=C, as the second reference of a job.
type realTool struct {
	path    string // "" when absent
	absent  string // why it is absent
	okCodes []int  // exit statuses that are not errors
}

// lookTool finds name on PATH; okCodes are its exit statuses that are not errors.
func lookTool(name string, okCodes ...int) realTool {
	path, err := exec.LookPath(name)
	if err != nil {
		return realTool{absent: fmt.Sprintf("%s is not on PATH (%v): the comparison with the real tool is skipped", name, err)}
	}
	return realTool{path: path, okCodes: okCodes}
}

// skipIfAbsent skips t, saying why, when the tool is not installed.
func (rt realTool) skipIfAbsent(t *testing.T) {
	t.Helper()
	if rt.path == "" {
		t.Skip(rt.absent)
	}
}

// run runs the tool with args under LC_ALL=C, standard input from stdin (nil: none) and
// standard output into out. It fails the test on an exit status not in okCodes.
func (rt realTool) run(t *testing.T, stdin io.Reader, out io.Writer, args ...string) {
	t.Helper()
	cmd := exec.Command(rt.path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && slices.Contains(rt.okCodes, exit.ExitCode()):
	default:
		t.Fatalf("LC_ALL=C %s %s: %v\n%s", rt.path, strings.Join(args, " "), err, stderr.Bytes())
	}
}

// output is run with the output in memory.
func (rt realTool) output(t *testing.T, stdin io.Reader, args ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	rt.run(t, stdin, &b, args...)
	return b.Bytes()
}

var (
	grepTool = lookTool("grep", 1) // 1: no line matched
	sortTool = lookTool("sort")
)

// submitArgs is `dlbp submit` of job on lb with R reducers, quiet, with extra flags and the
// inputs.
func submitArgs(lb, job string, reducers int, extra []string, inputs []string) []string {
	args := []string{"submit", "--lb", lb, "--job", job, "--reducers", strconv.Itoa(reducers), "--quiet"}
	args = append(args, extra...)
	return append(args, inputs...)
}

func (c *testCluster) checkIndexer(t *testing.T) {
	paths := typedInputs(t)
	want := refOutput(t, "indexer", func(w io.Writer) error { return reference.Indexer(paths, w) })
	for _, mode := range modes {
		for _, r := range jobReducers {
			t.Run(fmt.Sprintf("%s/R=%d", mode, r), func(t *testing.T) {
				got := mustDLBP(t, submitArgs(c.lb[mode], "indexer", r, nil, paths)...).Stdout
				sameOutput(t, fmt.Sprintf("indexer mode %s R=%d vs internal/reference", mode, r), got, want)
			})
		}
	}
}

func (c *testCluster) checkGrep(t *testing.T) {
	paths := typedInputs(t)
	for _, p := range grepPatterns {
		t.Run(p.name, func(t *testing.T) {
			want := refOutput(t, "grep "+p.re, func(w io.Writer) error { return reference.Grep(p.re, paths, w) })
			if (len(want) == 0) != (p.name == "no_match") {
				t.Fatalf("the reference grep of %q printed %d bytes: the pattern does not test what it should", p.re, len(want))
			}
			var tool []byte
			if grepTool.path != "" {
				tool = grepTool.output(t, nil, append([]string{"-Hn", "-E", p.re}, paths...)...)
			}
			for _, mode := range modes {
				for _, r := range jobReducers {
					t.Run(fmt.Sprintf("%s/R=%d", mode, r), func(t *testing.T) {
						got := mustDLBP(t, submitArgs(c.lb[mode], "grep", r, []string{"--param", "pattern=" + p.re}, paths)...).Stdout
						sameOutput(t, fmt.Sprintf("grep %q mode %s R=%d vs internal/reference", p.re, mode, r), got, want)
						t.Run("vs_grep", func(t *testing.T) {
							grepTool.skipIfAbsent(t)
							sameOutput(t, fmt.Sprintf("grep %q mode %s R=%d vs LC_ALL=C grep -Hn -E", p.re, mode, r), got, tool)
						})
					})
				}
			}
		})
	}
}

func (c *testCluster) checkSort(t *testing.T) {
	paths := typedInputs(t)
	want := refOutput(t, "sort", func(w io.Writer) error { return reference.Sort(paths, w) })
	var tool []byte
	if sortTool.path != "" {
		tool = sortTool.output(t, nil, paths...)
	}
	vsSort := func(t *testing.T, what string, got []byte) {
		t.Run("vs_sort", func(t *testing.T) {
			sortTool.skipIfAbsent(t)
			sameOutput(t, what+" vs LC_ALL=C sort", got, tool)
		})
	}
	for _, mode := range modes {
		for _, r := range jobReducers {
			t.Run(fmt.Sprintf("%s/R=%d", mode, r), func(t *testing.T) {
				got := mustDLBP(t, submitArgs(c.lb[mode], "sort", r, nil, paths)...).Stdout
				what := fmt.Sprintf("sort mode %s R=%d", mode, r)
				sameOutput(t, what+" vs internal/reference", got, want)
				vsSort(t, what, got)
			})
		}
		const r = 4
		t.Run(fmt.Sprintf("%s/output_dir_R=%d", mode, r), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if out := mustDLBP(t, submitArgs(c.lb[mode], "sort", r, []string{"--output", dir}, paths)...).Stdout; len(out) != 0 {
				t.Errorf("--output %s also printed %d bytes on stdout", dir, len(out))
			}
			got := catParts(t, dir, r, true)
			what := fmt.Sprintf("sort mode %s --output DIR R=%d: cat DIR/part-*", mode, r)
			sameOutput(t, what+" vs internal/reference", got, want)
			vsSort(t, what, got)
		})
	}
}

// catParts checks that dir holds exactly the part files of a job with R partitions and an
// empty _SUCCESS (and, if nonEmpty, that no part is empty) and returns `cat dir/part-*`.
func catParts(t *testing.T, dir string, r int, nonEmpty bool) []byte {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range parts {
		names = append(names, filepath.Base(p))
	}
	var want []string
	for i := range r {
		want = append(want, fmt.Sprintf("part-%05d", i))
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s holds parts %q, want %q", dir, names, want)
	}
	if st, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Errorf("_SUCCESS: %v", err)
	} else if st.Size() != 0 {
		t.Errorf("_SUCCESS has %d bytes, want an empty file", st.Size())
	}
	var cat bytes.Buffer
	for _, p := range parts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if nonEmpty && len(data) == 0 {
			t.Errorf("%s is empty (%d parts of %d bytes in all): the range partitioning left a partition without lines", p, r, cat.Len())
		}
		cat.Write(data)
	}
	return cat.Bytes()
}

// checkStdin submits `-` (standard input) among files: its doc name is "-".
func (c *testCluster) checkStdin(t *testing.T) {
	if len(texts) < 3 {
		t.Skipf("needs 3 text inputs, have %d", len(texts))
	}
	const pattern = `^The`
	files := []string{texts[0], "-", texts[2]}
	stdinFile := texts[1]
	var want []byte
	for _, p := range files {
		name := p
		if p == "-" {
			name = stdinFile
		}
		out := refOutput(t, "grep", func(w io.Writer) error { return reference.Grep(pattern, []string{name}, w) })
		if p == "-" {
			out = renameDoc(out, stdinFile+":", "-:")
		}
		want = append(want, out...)
	}
	if !bytes.Contains(want, []byte("\n-:")) {
		t.Fatalf("the reference has no match in %s, the standard input: pick another pattern", stdinFile)
	}
	var tool []byte
	if grepTool.path != "" {
		tool = grepTool.output(t, openFile(t, stdinFile), append([]string{"-Hn", "-E", "--label=-", pattern}, files...)...)
	}
	wantSort := refOutput(t, "sort", func(w io.Writer) error { return reference.Sort([]string{stdinFile}, w) })
	for _, mode := range modes {
		t.Run(mode+"/grep", func(t *testing.T) {
			got := mustDLBPIO(t, clientIO{Stdin: openFile(t, stdinFile)},
				submitArgs(c.lb[mode], "grep", 2, []string{"--param", "pattern=" + pattern}, files)...).Stdout
			what := fmt.Sprintf("grep %q %s (stdin: %s) mode %s", pattern, strings.Join(files, " "), stdinFile, mode)
			sameOutput(t, what+" vs internal/reference", got, want)
			t.Run("vs_grep", func(t *testing.T) {
				grepTool.skipIfAbsent(t)
				sameOutput(t, what+" vs LC_ALL=C grep -Hn -E --label=-", got, tool)
			})
		})
		t.Run(mode+"/sort", func(t *testing.T) {
			got := mustDLBPIO(t, clientIO{Stdin: openFile(t, stdinFile)}, submitArgs(c.lb[mode], "sort", 3, nil, []string{"-"})...).Stdout
			sameOutput(t, fmt.Sprintf("sort - (stdin: %s) mode %s vs internal/reference", stdinFile, mode), got, wantSort)
		})
	}
}

// renameDoc replaces the prefix from with to on every line of a grep output that has it.
func renameDoc(out []byte, from, to string) []byte {
	var b bytes.Buffer
	for _, l := range lines(string(out)) {
		if rest, ok := strings.CutPrefix(l, from); ok {
			l = to + rest
		}
		b.WriteString(l)
	}
	return b.Bytes()
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// checkOutputDirAgain fetches a finished job's result several times with `dlbp wait`, and
// checks that --output refuses a non-empty directory without --force and replaces it with it.
func (c *testCluster) checkOutputDirAgain(t *testing.T) {
	paths := texts
	const r = 4
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			lb := c.lb[mode]
			args := append([]string{"submit", "--lb", lb, "--job", "sort", "--reducers", strconv.Itoa(r), "--detach"}, paths...)
			id := strings.TrimSpace(string(mustDLBP(t, args...).Stdout))
			tmp := t.TempDir()
			first, second := filepath.Join(tmp, "first"), filepath.Join(tmp, "second")
			mustDLBP(t, "wait", id, "--lb", lb, "--quiet", "--output", first)
			result := readDir(t, first)
			cat := catParts(t, first, r, true)
			mustDLBP(t, "wait", id, "--lb", lb, "--quiet", "--output", second)
			sameDir(t, "dlbp wait --output, a second time", second, result)
			again := mustDLBP(t, "wait", id, "--lb", lb, "--quiet").Stdout
			sameOutput(t, "dlbp wait (stdout) after two --output fetches vs cat DIR/part-*", again, cat)

			t.Run("refuses_non_empty", func(t *testing.T) {
				jobsBefore := jobCount(t, lb)
				for _, try := range [][]string{
					{"wait", id, "--lb", lb, "--quiet", "--output", first},
					submitArgs(lb, "sort", r, []string{"--output", first}, paths),
				} {
					res := dlbp(t, try...)
					if res.Code != 2 {
						t.Errorf("exit %d, want 2 (usage: %s is not empty); %v", res.Code, first, res)
					}
					if !strings.Contains(string(res.Stderr), "--force") {
						t.Errorf("stderr does not mention --force: %q", res.Stderr)
					}
					sameDir(t, strings.Join(try, " ")+" refused", first, result)
				}
				if n := jobCount(t, lb); n != jobsBefore {
					t.Errorf("%d jobs listed after a refused submit, %d before: the refused submit was sent", n, jobsBefore)
				}
			})
			t.Run("force_replaces", func(t *testing.T) {
				// A previous, larger output: parts beyond R must not survive, or
				// `cat DIR/part-*` is no longer the result.
				dir := filepath.Join(tmp, "stale")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for i := range r + 2 {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%05d", i)), []byte("stale line\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				mustDLBP(t, "wait", id, "--lb", lb, "--quiet", "--output", dir, "--force")
				got := catParts(t, dir, r, true)
				sameOutput(t, "cat DIR/part-* after --force over a stale output", got, cat)
			})
		})
	}
}

// jobCount is the number of jobs `dlbp jobs --json` lists.
func jobCount(t *testing.T, lb string) int {
	t.Helper()
	var jobs []statusJSON
	out := mustDLBP(t, "jobs", "--lb", lb, "--json").Stdout
	if err := json.Unmarshal(out, &jobs); err != nil {
		t.Fatalf("parsing `dlbp jobs --json`: %v\n%s", err, out)
	}
	return len(jobs)
}

// readDir returns the name and contents of every file in dir.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}

// sameDir fails the test unless dir holds exactly the files of want, with the same bytes.
func sameDir(t *testing.T, what, dir string, want map[string][]byte) {
	t.Helper()
	got := readDir(t, dir)
	for name, data := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: %s is missing from %s", what, name, dir)
		} else if !bytes.Equal(g, data) {
			t.Errorf("%s: %s/%s differs (%d bytes, want %d)", what, dir, name, len(g), len(data))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %s/%s should not be there", what, dir, name)
		}
	}
}
