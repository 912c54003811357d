package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
)

// TestCancelledJobEndsItsAttempts: a job cancelled while its reducers run (their reports are
// lost, so they run on as far as anyone knows) lists no attempt running afterwards, map or
// reduce. (Before, its status showed a reduce attempt running forever.)
func TestCancelledJobEndsItsAttempts(t *testing.T) {
	c := testcluster.Start(t, 2)
	for _, nd := range c.Nodes {
		nd.DropReportsForTest(func(method string, _ any) bool { return method == protocol.MethodReduceDone })
	}
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, _ := submitWordcount(ctx, t, cl, 1<<20, 41, 128<<10, 2)
	running := func(views []sched.TaskView) int {
		n := 0
		for _, v := range views {
			for _, a := range v.Attempts {
				if a.State == sched.AttemptRunning {
					n++
				}
			}
		}
		return n
	}
	testcluster.WaitFor(t, 30*time.Second, "every map done and the reducers running", func() bool {
		st, err := cl.Status(ctx, id)
		return err == nil && st.MapsDone == st.MapsTotal && st.MapsTotal > 0 && running(st.Reduces) == 2
	})
	st, err := cl.Cancel(ctx, id)
	if err != nil || st.State != protocol.StateCancelled {
		t.Fatalf("cancel: %v %+v", err, st)
	}
	if st, err = cl.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, m := running(st.Reduces), running(st.Maps); n+m > 0 {
		t.Fatalf("after the cancel, %d reduce and %d map attempts still running: %+v", n, m, st.Reduces)
	}
}
