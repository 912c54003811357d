package client_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/node"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
)

// TestNodeLossMidJob stops a node that has finished map tasks while a job
// runs — abruptly (no leave: a crash as the cluster sees it) or gracefully
// (draining, then leave) — and checks that the job's output is still exact,
// in both modes.
func TestNodeLossMidJob(t *testing.T) {
	paths := inputs(t)
	paths = append(append(paths, paths...), paths...) // three times the input: enough tasks to act mid-job
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"dlbp", "single"} {
		for _, how := range []string{"crash", "graceful"} {
			t.Run(mode+"/"+how, func(t *testing.T) {
				c := testcluster.Start(t, 4)
				cl := c.Client(mode)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				in, err := client.FileInputs(paths, nil)
				if err != nil {
					t.Fatal(err)
				}
				st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 3}, 32<<10, in)
				if err != nil {
					t.Fatal(err)
				}
				victim := waitForDoneMapOn(t, cl, st.ID)
				var vn *node.Node
				for _, n := range c.Nodes {
					if n.Opts.Name == victim {
						vn = n
					}
				}
				t.Logf("stopping %s (%s) with the job at %s", victim, how, progress(t, cl, st.ID))
				if how == "crash" {
					vn.Close()
				} else {
					sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
					vn.Shutdown(sctx)
					scancel()
				}
				st, err = cl.Wait(ctx, st.ID, nil)
				if err != nil {
					t.Fatal(err)
				}
				if st.State != protocol.StateSucceeded {
					t.Fatalf("job %s: %s", st.State, st.Error)
				}
				var got bytes.Buffer
				if err := cl.WriteResult(ctx, st, &got); err != nil {
					t.Fatal(err)
				}
				firstDiff(t, got.Bytes(), want.Bytes())
				// The victim's work went elsewhere: every map task's winning
				// attempt is on a live node or was fetched before the loss.
				lost := 0
				for _, m := range st.Maps {
					for _, a := range m.Attempts {
						if a.State == sched.AttemptLost {
							lost++
						}
					}
				}
				t.Logf("%d map attempts were lost and re-run", lost)
			})
		}
	}
}

// waitForDoneMapOn waits until some node has finished a map task of the
// job while others are still to do, and returns that node.
func waitForDoneMapOn(t *testing.T, cl *client.Client, id string) string {
	t.Helper()
	var victim string
	testcluster.WaitFor(t, 30*time.Second, "a finished map task", func() bool {
		st, err := cl.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if protocol.Terminal(st.State) {
			t.Fatalf("job ended (%s) before a node could be stopped mid-job", st.State)
		}
		for _, m := range st.Maps {
			for _, a := range m.Attempts {
				if a.State == sched.AttemptDone {
					victim = a.Node
					return true
				}
			}
		}
		return false
	})
	return victim
}

func progress(t *testing.T, cl *client.Client, id string) string {
	st, err := cl.Status(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("maps %d/%d, reduces %d/%d", st.MapsDone, len(st.Maps), st.ReducesDone, st.Partitions)
}
