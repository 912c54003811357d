package client_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestLoadBalancerRestartMidJob restarts maplb, then reducelb, on their
// data directories while a job runs: the job, accepted before, finishes
// exact, and the client re-attaches by id.
func TestLoadBalancerRestartMidJob(t *testing.T) {
	paths := inputs(t)
	paths = append(append(paths, paths...), paths...)
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	for _, which := range []string{"maplb", "reducelb", "both"} {
		t.Run(which, func(t *testing.T) {
			c := testcluster.Start(t, 3)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			in, err := client.FileInputs(paths, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Client("dlbp").Submit(ctx, job.Spec{Job: "wordcount", Reducers: 3}, 32<<10, in)
			if err != nil {
				t.Fatal(err)
			}
			waitForDoneMapOn(t, c.Client("dlbp"), st.ID)
			t.Logf("restarting %s with the job at %s", which, progress(t, c.Client("dlbp"), st.ID))
			if which != "reducelb" {
				c.RestartMapLB()
			}
			if which != "maplb" {
				c.RestartReduceLB()
			}
			cl := c.Client("dlbp") // the maplb has a new address
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
		})
	}
}
