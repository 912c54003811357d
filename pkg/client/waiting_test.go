package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// waitingSays waits until the job's status says it waits for want.
func waitingSays(ctx context.Context, t *testing.T, cl *client.Client, id, want string) {
	t.Helper()
	var last string
	testcluster.WaitFor(t, 30*time.Second, "the status to say "+want, func() bool {
		st, err := cl.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last = st.Waiting
		return strings.Contains(st.Waiting, want)
	})
	t.Logf("status says: waiting: %s", last)
}

// TestWaitingIsSaid: a job that cannot progress says why in its status (what dlbp status, the
// progress line and the dashboard show), from the source /readyz uses; once the cluster has
// what was missing, the job finishes and says nothing more. (Before, the user saw
// "running: maps 8/8, reduces 0/1" until giving up.)
func TestWaitingIsSaid(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Run("no reducelb", func(t *testing.T) {
		c := testcluster.Start(t, 2)
		c.StopReduceLB()
		cl := c.Client("dlbp")
		id, want := submitWordcount(ctx, t, cl, 1<<20, 31, 128<<10, 1)
		waitingSays(ctx, t, cl, id, "no reducelb in the cluster (mode dlbp needs one)")
		c.StartReduceLB()
		st, err := cl.Wait(ctx, id, nil)
		if err != nil || st.State != protocol.StateSucceeded || st.Waiting != "" {
			t.Fatalf("once reducelb is back: %v, %s, waiting %q", err, st.State, st.Waiting)
		}
		var out strings.Builder
		if err := cl.WriteResult(ctx, st, &out); err != nil {
			t.Fatal(err)
		}
		firstDiff(t, []byte(out.String()), want)
	})
	t.Run("no node", func(t *testing.T) {
		c := testcluster.Start(t, 0)
		cl := c.Client("dlbp")
		st, err := cl.Submit(ctx, job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..1000"}}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitingSays(ctx, t, cl, st.ID, "no live node in the cluster")
		c.AddNode("node1")
		st, err = cl.Wait(ctx, st.ID, nil)
		if err != nil || st.State != protocol.StateSucceeded || st.Waiting != "" {
			t.Fatalf("once a node joined: %v, %s, waiting %q", err, st.State, st.Waiting)
		}
	})
}

// TestFirstBadRecordIsReported: sum over a text file, cut into many splits that run at once:
// every split's first line is bad, and the job names the document's first line, whichever
// split failed first. (Before, a later split's error often won the race: "line 2209".)
func TestFirstBadRecordIsReported(t *testing.T) {
	c := testcluster.Start(t, 3)
	text := genText(t, 2<<20, 61)
	for i := range 3 {
		st, _ := run(t, c.Client([]string{"dlbp", "single", "dlbp"}[i]), job.Spec{Job: "sum", Reducers: 1}, 64<<10, []string{text})
		if st.State != protocol.StateFailed || !strings.Contains(st.Error, text+":1: ") {
			t.Fatalf("run %d: %s %q, want a failure naming %s:1", i, st.State, st.Error, text)
		}
	}
}
