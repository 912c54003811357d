package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestMain checks that the daemons leave no goroutine behind. memberlist's
// probe goroutine (and whatever it calls, such as sending an indirect ping)
// outlives Shutdown for up to a probe interval: it is the one exception.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// inputs returns the Gutenberg texts when ../shared is there, else a
// generated corpus of a few files.
func inputs(t *testing.T) []string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "gutenberg")
	if paths, _ := filepath.Glob(filepath.Join(dir, "*.txt")); len(paths) > 0 {
		return paths
	}
	t.Logf("%s absent: using a generated corpus", dir)
	tmp := t.TempDir()
	var paths []string
	for i := 0; i < 4; i++ {
		p := filepath.Join(tmp, fmt.Sprintf("gen-%d.txt", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := corpus.Generate(f, 512<<10, int64(i)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	return paths
}

// genText writes size bytes of generated text (corpus seed seed) to a file and returns its path.
func genText(t *testing.T, size int64, seed int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("text-%d.txt", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := corpus.Generate(f, size, seed); err != nil {
		t.Fatal(err)
	}
	return path
}

// submitWordcount writes size bytes of text (corpus seed seed), submits a wordcount of it in
// splits of split bytes without waiting for it, and returns the job's id and the output it
// must print.
func submitWordcount(ctx context.Context, t *testing.T, cl *client.Client, size, seed, split int64, reducers int) (string, []byte) {
	t.Helper()
	text := genText(t, size, seed)
	var want bytes.Buffer
	if err := reference.WordCount([]string{text}, &want); err != nil {
		t.Fatal(err)
	}
	in, err := client.FileInputs([]string{text}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: reducers}, split, in)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID, want.Bytes()
}

func run(t *testing.T, cl *client.Client, spec job.Spec, split int64, paths []string) (*protocol.JobStatus, []byte) {
	t.Helper()
	return runSubmitted(t, cl, paths, func(ctx context.Context, in []client.Input) (*protocol.JobStatus, error) {
		return cl.Submit(ctx, spec, split, in)
	})
}

// runSubmitted submits a job over paths with submit, waits for it and returns its status and,
// when it succeeded, its output.
func runSubmitted(t *testing.T, cl *client.Client, paths []string, submit func(context.Context, []client.Input) (*protocol.JobStatus, error)) (*protocol.JobStatus, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := client.FileInputs(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := submit(ctx, in)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	id := st.ID
	st, err = cl.Wait(ctx, id, nil)
	if err != nil {
		dumpStatus(t, cl, id)
		t.Fatalf("wait: %v", err)
	}
	if st.State != protocol.StateSucceeded {
		return st, nil
	}
	var out bytes.Buffer
	if err := cl.WriteResult(ctx, st, &out); err != nil {
		t.Fatalf("result: %v", err)
	}
	return st, out.Bytes()
}

// dumpStatus logs a stuck job's full status, for the post-mortem.
func dumpStatus(t *testing.T, cl *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := cl.Status(ctx, id)
	if err != nil {
		t.Logf("status of %s: %v", id, err)
		return
	}
	data, _ := json.MarshalIndent(protocol.ToJSON(st), "", " ")
	t.Logf("status of %s:\n%s", id, data)
}

func firstDiff(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) && i < len(w); i++ {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("output differs at line %d: got %q, want %q (%d vs %d bytes)", i+1, g[i], w[i], len(got), len(want))
		}
	}
	t.Fatalf("output has %d lines, want %d", len(g), len(w))
}

// textJobs are the jobs over text documents with their sequential
// references.
var textJobs = []struct {
	name   string
	params map[string]string
	want   func(paths []string, w *bytes.Buffer) error
}{
	{"wordcount", nil, func(p []string, w *bytes.Buffer) error { return reference.WordCount(p, w) }},
	{"indexer", nil, func(p []string, w *bytes.Buffer) error { return reference.Indexer(p, w) }},
	{"grep", map[string]string{"pattern": `[Tt]he [a-z]+ing`}, func(p []string, w *bytes.Buffer) error {
		return reference.Grep(`[Tt]he [a-z]+ing`, p, w)
	}},
	{"sort", nil, func(p []string, w *bytes.Buffer) error { return reference.Sort(p, w) }},
}

// TestEveryJob runs every text job in both modes with one and with four
// partitions, and compares each output with its reference byte for byte;
// for sort it also checks that the part files, concatenated, are sorted.
func TestEveryJob(t *testing.T) {
	c := testcluster.Start(t, 3)
	paths := inputs(t)
	for _, tj := range textJobs {
		var want bytes.Buffer
		if err := tj.want(paths, &want); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"dlbp", "single"} {
			for _, r := range []int{1, 4} {
				t.Run(fmt.Sprintf("%s/%s/R=%d", tj.name, mode, r), func(t *testing.T) {
					cl := c.Client(mode)
					st, got := run(t, cl, job.Spec{Job: tj.name, Reducers: r, Params: tj.params}, 256<<10, paths)
					if st.State != protocol.StateSucceeded {
						t.Fatalf("job %s: %s", st.State, st.Error)
					}
					firstDiff(t, got, want.Bytes())
					if tj.name != "sort" || r == 1 {
						return
					}
					dir := filepath.Join(t.TempDir(), "out")
					if err := cl.WriteResultDir(context.Background(), st, dir); err != nil {
						t.Fatal(err)
					}
					var cat bytes.Buffer
					for p := 0; p < r; p++ {
						part, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("part-%05d", p)))
						if err != nil {
							t.Fatal(err)
						}
						if len(part) == 0 {
							t.Errorf("part %d is empty: the range partitioning did not spread the lines", p)
						}
						cat.Write(part)
					}
					firstDiff(t, cat.Bytes(), want.Bytes())
				})
			}
		}
	}
}

// TestInProcessCluster runs every role in this process and checks wordcount
// and sum against the sequential reference in both modes.
func TestInProcessCluster(t *testing.T) {
	c := testcluster.Start(t, 3)
	paths := inputs(t)
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"dlbp", "single"} {
		for _, r := range []int{1, 3} {
			t.Run(fmt.Sprintf("wordcount/%s/R=%d", mode, r), func(t *testing.T) {
				st, got := run(t, c.Client(mode), job.Spec{Job: "wordcount", Reducers: r}, 256<<10, paths)
				if st.State != protocol.StateSucceeded {
					t.Fatalf("job %s: %s", st.State, st.Error)
				}
				firstDiff(t, got, want.Bytes())
				nodes := map[string]bool{}
				for _, m := range st.Maps {
					nodes[m.Attempts[len(m.Attempts)-1].Node] = true
				}
				if len(nodes) < 2 {
					t.Errorf("map tasks ran on %v, want at least 2 nodes", nodes)
				}
				// A member that looked dead for a moment may cause a re-pick:
				// every partition must have been picked at least once.
				picked := map[int]bool{}
				for _, p := range st.Reducers {
					picked[p.Partition] = true
				}
				if len(picked) != r {
					t.Errorf("reducer picks %+v do not cover %d partitions", st.Reducers, r)
				}
			})
		}
		t.Run("sum-range/"+mode, func(t *testing.T) {
			st, got := run(t, c.Client(mode), job.Spec{Job: "sum", Reducers: 2, Params: map[string]string{"range": "1..100000000"}}, 0, nil)
			if st.State != protocol.StateSucceeded || string(got) != "5000000050000000\n" {
				t.Fatalf("sum = %q (%s %s)", got, st.State, st.Error)
			}
		})
	}
	t.Run("sum-bad-record", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "ints.txt")
		os.WriteFile(p, []byte("1\n12x\n3\n"), 0o644)
		st, _ := run(t, c.Client("dlbp"), job.Spec{Job: "sum", Reducers: 1}, 0, []string{p})
		if st.State != protocol.StateFailed || st.Error != p+`:2: not an integer: "12x"` {
			t.Fatalf("state %s, error %q", st.State, st.Error)
		}
	})
	t.Run("lazy-pick", func(t *testing.T) {
		st, _ := run(t, c.Client("dlbp"), job.Spec{Job: "wordcount", Reducers: 3}, 128<<10, paths)
		var firstEnd time.Time
		for _, m := range st.Maps {
			for _, a := range m.Attempts {
				if a.State == "done" && (firstEnd.IsZero() || a.End.Before(firstEnd)) {
					firstEnd = a.End
				}
			}
		}
		for _, p := range st.Reducers {
			if !p.Picked.After(firstEnd) {
				t.Errorf("partition %d picked at %v, not after the first map ended at %v", p.Partition, p.Picked, firstEnd)
			}
		}
	})
}
