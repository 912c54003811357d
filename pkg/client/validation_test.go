package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestBadSubmissions checks that every kind of bad request gets a clear
// error, leaves no job behind, and that the limits hold.
func TestBadSubmissions(t *testing.T) {
	// No node: an accepted job stays unfinished, which the per-client limit
	// needs; nothing else here runs a job.
	c := testcluster.StartWith(t, 0, func(o *daemon.Options) {
		o.MaxJobBytes, o.MaxClientJobs = 1000, 1
	})
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	small := writeInputs(t, map[string]string{"a.txt": "hello\n"})
	big := writeInputs(t, map[string]string{"big.txt": strings.Repeat("x", 2000)})
	for _, tc := range []struct {
		spec  job.Spec
		split int64
		paths []string
		code  string
		want  string
	}{
		{job.Spec{Job: "nosuch", Reducers: 1}, 0, small, transport.CodeBadRequest, `unknown job "nosuch"`},
		{job.Spec{Job: "grep", Reducers: 1, Params: map[string]string{"pattern": "a("}}, 0, small, transport.CodeBadRequest, "bad pattern"},
		{job.Spec{Job: "grep", Reducers: 1}, 0, small, transport.CodeBadRequest, "pattern"},
		{job.Spec{Job: "wordcount", Reducers: 1, Params: map[string]string{"color": "red"}}, 0, small, transport.CodeBadRequest, `unknown param "color"`},
		{job.Spec{Job: "wordcount", Reducers: 5000}, 0, small, transport.CodeBadRequest, "--reducers 5000"},
		{job.Spec{Job: "wordcount", Reducers: 1}, 10, small, transport.CodeBadRequest, "--split-size 10"},
		{job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "5..1"}}, 0, nil, transport.CodeBadRequest, "range"},
		{job.Spec{Job: "sum", Reducers: 1}, 0, nil, transport.CodeBadRequest, "needs input"},
		{job.Spec{Job: "wordcount", Reducers: 1}, 0, big, transport.CodeBadRequest, "--max-job-input"},
	} {
		in, err := client.FileInputs(tc.paths, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Submit(ctx, tc.spec, tc.split, in)
		if err == nil || transport.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %s containing %q", tc.spec, err, tc.code, tc.want)
		}
	}
	if jobs, err := cl.Jobs(ctx); err != nil || len(jobs) != 0 {
		t.Fatalf("bad submissions left jobs: %v %v", jobs, err)
	}
	// One unfinished job per client: the second is refused while the first
	// waits for a node; once the first is cancelled, a new one is accepted.
	in, _ := client.FileInputs(small, nil)
	first, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 1}, 0, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 1}, 0, in)
	if transport.CodeOf(err) != transport.CodeBusy || !strings.Contains(err.Error(), "--max-client-jobs") {
		t.Fatalf("second job: %v, want busy naming --max-client-jobs", err)
	}
	if _, err := cl.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 1}, 0, in); err != nil {
		t.Fatalf("job after the first was cancelled: %v", err)
	}
}
