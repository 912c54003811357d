package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestJobLogsAndExpiry checks that every job state change and every task
// failure is one structured log line naming the job (and the task and node
// for a failure), and that a finished job's result is kept until the
// result TTL, then forgotten with a clear message.
func TestJobLogsAndExpiry(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	c := testcluster.StartWith(t, 2, func(o *daemon.Options) { o.ResultKeep = ttl })
	cl := c.Client("dlbp")
	st, _ := run(t, cl, job.Spec{Job: "wordcount", Reducers: 2}, 256<<10, inputs(t))
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	bad := writeInputs(t, map[string]string{"ints.txt": "1\nx2\n"})
	failed, _ := run(t, cl, job.Spec{Job: "sum", Reducers: 1}, 0, bad)

	has := func(msg, id string, fields ...string) bool {
		for _, e := range c.Logs.FilterMessage(msg).All() {
			m := e.ContextMap()
			if m["job"] != id {
				continue
			}
			ok := true
			for _, f := range fields {
				if _, present := m[f]; !present {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, msg := range []string{"job submitted", "job accepted", "job running", "job ended"} {
		if !has(msg, st.ID) {
			t.Errorf("no %q line for job %s", msg, st.ID)
		}
	}
	if !has("map task failed", failed.ID, "task", "node", "reason") {
		t.Errorf("no map task failure line with job, task and node for job %s", failed.ID)
	}
	if !has("job ended", failed.ID, "reason") {
		t.Errorf("no job ended line with the reason for job %s", failed.ID)
	}

	// Within the TTL the result can be fetched again; after it, the job is
	// gone and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.Status(ctx, st.ID); err != nil && time.Since(st.Finished) < ttl {
		t.Fatalf("status within the TTL: %v", err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the job to expire", func() bool {
		_, err := cl.Status(ctx, st.ID)
		return transport.CodeOf(err) == transport.CodeNotFound
	})
	_, err := cl.Status(ctx, st.ID)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("status of an expired job: %v, want it to say expired", err)
	}
	if !has("job expired", st.ID) {
		t.Errorf("no job expired line for job %s", st.ID)
	}
}
