package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
)

// programsDir holds the examples, built by TestMain as WebAssembly (NAME.wasm) and natively
// (NAME).
var programsDir string

// buildPrograms builds the examples the user-job checks run.
func buildPrograms(root string) error {
	programsDir = filepath.Join(scratchDir, "programs")
	for _, ex := range []string{"wordcount", "indexer", "grep", "join"} {
		for _, wasm := range []bool{true, false} {
			if _, err := proccluster.BuildProgram(root, programsDir, "./examples/"+ex, wasm); err != nil {
				return err
			}
		}
	}
	return nil
}

// moduleCache is the compiled-module cache every daemon of the tests shares, as daemons on one
// host may: each module is compiled once per test run, not once per daemon.
func moduleCache() string { return filepath.Join(scratchDir, "wasm-cache") }

// program returns the path of an example built as WebAssembly (wasm) or natively.
func program(t *testing.T, name string, wasm bool) string {
	t.Helper()
	p := filepath.Join(programsDir, name)
	if wasm {
		p += ".wasm"
	}
	return p
}

func sortedLines(b []byte) []byte {
	ls := lines(string(b))
	sort.Strings(ls)
	return []byte(strings.Join(ls, ""))
}

// userArgs is `dlbp submit` of a user job whose mapper, combiner (if any) and reducer are roles
// of prog.
func userArgs(lb, prog string, combine bool, reducers int, extra []string, inputs []string) []string {
	args := []string{"submit", "--lb", lb, "--mapper", prog + " map", "--reducer", prog + " reduce", "--reducers", strconv.Itoa(reducers), "--quiet"}
	if combine {
		args = append(args, "--combiner", prog+" combine")
	}
	return append(append(args, extra...), inputs...)
}

// checkUserJobs runs the examples as users' jobs, built as WebAssembly and natively, through
// `dlbp submit --mapper ... --reducer ...` in both modes, and compares each output, sorted (the
// partitions are hashed), with the sequential reference of its built-in twin.
func (c *testCluster) checkUserJobs(t *testing.T) {
	paths := typedInputs(t)
	const pattern = `[Tt]he [a-z]+ing`
	refs := map[string][]byte{
		"wordcount": refOutput(t, "wordcount", func(w io.Writer) error { return reference.WordCount(paths, w) }),
		"indexer":   refOutput(t, "indexer", func(w io.Writer) error { return reference.Indexer(paths, w) }),
		"grep":      refOutput(t, "grep", func(w io.Writer) error { return reference.Grep(pattern, paths, w) }),
	}
	for _, ex := range []string{"wordcount", "indexer", "grep"} {
		var extra []string
		if ex == "grep" {
			extra = []string{"--param", "pattern=" + pattern}
		}
		for _, kind := range []string{"wasm", "native"} {
			for _, mode := range modes {
				t.Run(fmt.Sprintf("%s/%s/%s", ex, kind, mode), func(t *testing.T) {
					prog := program(t, ex, kind == "wasm")
					args := userArgs(c.lb[mode], prog, ex == "wordcount", 3, extra, paths)
					if kind == "native" {
						// Shipped with the job, run from each task's working directory.
						args = userArgs(c.lb[mode], filepath.Base(prog), ex == "wordcount", 3, append(extra, "--file", prog), paths)
					}
					got := mustDLBP(t, args...).Stdout
					sameOutput(t, fmt.Sprintf("user %s (%s, mode %s), sorted, vs the built-in's reference", ex, kind, mode), sortedLines(got), sortedLines(refs[ex]))
				})
			}
		}
	}
	t.Run("join", func(t *testing.T) { c.checkUserJoin(t) })
	t.Run("status", func(t *testing.T) {
		prog := program(t, "wordcount", true)
		r := mustDLBP(t, append(userArgs(c.lb["dlbp"], prog, false, 2, nil, paths[:1]), "--detach")...)
		id := strings.TrimSpace(string(r.Stdout))
		mustDLBP(t, "wait", "--lb", c.lb["dlbp"], "--quiet", id)
		var st struct{ Job, State, Mapper, Reducer string }
		if err := json.Unmarshal(mustDLBP(t, "status", "--lb", c.lb["dlbp"], "--json", id).Stdout, &st); err != nil {
			t.Fatal(err)
		}
		if st.State != "succeeded" || st.Mapper != prog+" map" || st.Reducer != prog+" reduce" {
			t.Errorf("status --json: %+v, want the commands as typed", st)
		}
		if text := string(mustDLBP(t, "status", "--lb", c.lb["dlbp"], id).Stdout); !strings.Contains(text, "mapper '"+prog+" map'") {
			t.Errorf("status does not show the mapper:\n%s", text)
		}
	})
	t.Run("refused", func(t *testing.T) {
		prog := program(t, "wordcount", true)
		whole, err := os.ReadFile(prog)
		if err != nil {
			t.Fatal(err)
		}
		truncated := filepath.Join(t.TempDir(), "truncated.wasm")
		if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"job and mapper", []string{"submit", "--lb", c.lb["dlbp"], "--job", "wordcount", "--mapper", prog + " map", "--reducer", prog + " reduce", paths[0]}, "exclusive"},
			{"no reducer", []string{"submit", "--lb", c.lb["dlbp"], "--mapper", prog + " map", paths[0]}, "--reducer"},
			{"missing module", []string{"submit", "--lb", c.lb["dlbp"], "--mapper", "nowhere.wasm map", "--reducer", prog + " reduce", paths[0]}, "nowhere.wasm"},
			{"truncated module", userArgs(c.lb["dlbp"], truncated, false, 1, nil, paths[:1]), "truncated.wasm"},
		} {
			r := dlbp(t, tc.args...)
			if r.Code != 2 || !strings.Contains(string(r.Stderr), tc.want) {
				t.Errorf("%s: %s; want exit 2 and a message naming %q", tc.name, r, tc.want)
			}
		}
	})
}

// checkUserJoin joins two tab-separated inputs on their first field with the join example and
// compares with a nested-loop join.
func (c *testCluster) checkUserJoin(t *testing.T) {
	dir := t.TempDir()
	var left, right strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&left, "k%d\tleft %d\n", i%300, i)
		if i%3 == 0 {
			fmt.Fprintf(&right, "k%d\tright\t%d\n", i%450, i)
		}
	}
	lp, rp := filepath.Join(dir, "left.tsv"), filepath.Join(dir, "right.tsv")
	if err := os.WriteFile(lp, []byte(left.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rp, []byte(right.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	split := func(s string) (keys, rests []string) {
		for _, l := range lines(s) {
			k, r, _ := strings.Cut(strings.TrimSuffix(l, "\n"), "\t")
			keys, rests = append(keys, k), append(rests, r)
		}
		return keys, rests
	}
	lk, lr := split(left.String())
	rk, rr := split(right.String())
	var want []string
	for i := range lk {
		for j := range rk {
			if lk[i] == rk[j] {
				want = append(want, lk[i]+"\t"+lr[i]+"\t"+rr[j]+"\n")
			}
		}
	}
	slices.Sort(want)
	for _, mode := range modes {
		prog := program(t, "join", true)
		got := mustDLBP(t, userArgs(c.lb[mode], prog, false, 3, []string{"--param", "left=" + lp}, []string{lp, rp})...).Stdout
		sameOutput(t, "join mode "+mode+", sorted, vs a nested-loop join", sortedLines(got), []byte(strings.Join(want, "")))
	}
}
