package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// buildNative builds one of the repository's programs natively, for nodes with --allow-exec.
func buildNative(t *testing.T, pkg string) string {
	t.Helper()
	root, err := proccluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := proccluster.BuildProgram(root, t.TempDir(), pkg, false)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserHostilePrograms runs programs that misbehave (an endless loop, unbounded allocation,
// output without end, a crash, a native program whose child ignores SIGTERM and holds its
// output) as user jobs, each while a built-in wordcount runs beside it: each hostile job ends
// with the reason, the built-in job stays exact, and the nodes keep serving.
func TestUserHostilePrograms(t *testing.T) {
	c := testcluster.StartWith(t, 2, func(o *daemon.Options) {
		o.TaskMemoryBytes = 64 << 20
		o.MaxTaskOutputBytes = 32 << 20
		o.AllowExec = true
	})
	paths := inputs(t)[:2]
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	wc := buildModule(t, "./examples/wordcount")
	mod := func(name string) string { return buildModule(t, "./pkg/usercode/testdata/"+name) }
	loop, alloc, flood, crash := mod("loop"), mod("alloc"), mod("flood"), mod("panic")
	cl := c.Client("dlbp")

	// beside runs the built-in wordcount while fn runs, and checks its output.
	beside := func(t *testing.T, fn func()) {
		t.Helper()
		done := make(chan []byte, 1)
		go func() {
			st, out := run(t, cl, job.Spec{Job: "wordcount", Reducers: 2}, 0, paths)
			if st.State != protocol.StateSucceeded {
				t.Errorf("the built-in job beside: %s: %s", st.State, st.Error)
			}
			done <- out
		}()
		fn()
		if got := <-done; !bytes.Equal(got, want.Bytes()) {
			firstDiff(t, got, want.Bytes())
		}
	}
	for _, tc := range []struct {
		name    string
		u       client.UserJob
		attempt string // what every failed attempt's reason holds
	}{
		{"endless loop, task timeout", client.UserJob{Mapper: loop, Reducer: wc + " reduce", TaskTimeout: 2 * time.Second, MaxAttempts: 2}, "no input read and no output written for 2s (--task-timeout)"},
		{"unbounded allocation", client.UserJob{Mapper: alloc, Reducer: wc + " reduce", MaxAttempts: 2}, "memory limit of 64 MiB reached"},
		{"output without end", client.UserJob{Mapper: flood, Reducer: wc + " reduce", MaxAttempts: 2}, "wrote more than 33554432 bytes of output (node --max-task-output)"},
		{"crash", client.UserJob{Mapper: crash, Reducer: wc + " reduce", MaxAttempts: 2}, "nil pointer dereference"},
		{"crashing reducer", client.UserJob{Mapper: wc + " map", Reducer: crash, MaxAttempts: 2}, "nil pointer dereference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beside(t, func() {
				st, _ := runUser(t, cl, tc.u, 1, paths[:1])
				if st.State != protocol.StateFailed || !strings.Contains(st.Error, "failed 2 times") || !strings.Contains(st.Error, tc.attempt) {
					t.Fatalf("job %s: %q; want failed after 2 attempts with %q", st.State, st.Error, tc.attempt)
				}
				failed := 0
				for _, task := range append(st.Maps, st.Reduces...) {
					for _, a := range task.Attempts {
						// Not those stopped with the job, nor those a busy node refused to start.
						if a.State == "failed" && a.Reason != "job failed" && !strings.HasPrefix(a.Reason, "not started: ") {
							failed++
							if !strings.Contains(a.Reason, tc.attempt) {
								t.Errorf("attempt on %s: reason %q, want %q", a.Node, a.Reason, tc.attempt)
							}
						}
					}
				}
				if failed < 2 {
					t.Errorf("%d failed attempts, want 2", failed)
				}
			})
		})
	}
	t.Run("endless loop, cancelled", func(t *testing.T) {
		beside(t, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			in, err := client.FileInputs(paths[:1], nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := cl.SubmitUser(ctx, job.Spec{Reducers: 1}, client.UserJob{Mapper: loop, Reducer: wc + " reduce"}, 0, in)
			if err != nil {
				t.Fatal(err)
			}
			testcluster.WaitFor(t, 30*time.Second, "the loop to run on a node", func() bool {
				s, err := cl.Status(ctx, st.ID)
				return err == nil && s.MapsTotal > 0 && runningAttempts(s) > 0
			})
			if _, err := cl.Cancel(ctx, st.ID); err != nil {
				t.Fatal(err)
			}
			testcluster.WaitFor(t, 10*time.Second, "the nodes to stop the loop", func() bool {
				return c.Nodes[0].Running()+c.Nodes[1].Running() == 0
			})
		})
	})
	t.Run("native child ignoring SIGTERM", func(t *testing.T) {
		fork := buildNative(t, "./pkg/usercode/testdata/fork")
		cat := buildModule(t, "./internal/testprogs/garbage")
		beside(t, func() {
			st, out := runUser(t, cl, client.UserJob{Mapper: "fork exit", Reducer: cat + " cat", Files: []string{fork}}, 1, paths[:1])
			if st.State != protocol.StateSucceeded {
				t.Fatalf("job %s: %s", st.State, st.Error)
			}
			pids := 0
			for _, line := range strings.Split(string(out), "\n") {
				pid, err := strconv.Atoi(strings.TrimSuffix(line, "\t"))
				if err != nil {
					continue
				}
				pids++
				testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("the mapper's child %d to be dead", pid), func() bool { return proccluster.Gone(pid) })
			}
			if pids == 0 {
				t.Fatalf("no child pid in the output %q", out)
			}
		})
	})
}

func runningAttempts(st *protocol.JobStatus) int {
	n := 0
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			if a.State == "running" {
				n++
			}
		}
	}
	return n
}

// TestNodeSweepsTaskDirs: a node started on a data directory where a crashed run left native
// programs' working directories removes them.
func TestNodeSweepsTaskDirs(t *testing.T) {
	c := testcluster.Start(t, 1)
	dir := filepath.Join(t.TempDir(), "node9")
	write := func(rel string) string {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("left by an earlier run\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// What an earlier run had in flight: a native task's directory, a partial, a gathered
	// copy, a spill file, a part cut short by a crash; and a committed part, which stays.
	left := []string{
		write(filepath.Join("tasks", "jold-map-3.0-123", "mapper.py")),
		write(filepath.Join("maps", "jold", "t00003.a0.p00000")),
		write(filepath.Join("gather", "jold.p00001", "t00002")),
		write(filepath.Join("spill", "spill-123")),
		write(filepath.Join("results", "jold", ".part-00001.tmp123")),
	}
	part := write(filepath.Join("results", "jold", "part-00000"))
	c.AddNodeWith("node9", dir)
	for _, path := range left {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s, left by the earlier run, is still there: %v", path, err)
		}
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("the committed part was removed: %v", err)
	}
}
