package node_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/test/hostile"
)

// The tests in this file reproduce defects that fuzzing found in the node
// daemon. Each names the input and what used to happen, and now checks that
// it no longer does (the daemons validate job ids, counts and membership).

// TestFuzzFoundForgetEmptyJobWipesEveryJob: job.forget names a job, but the
// node maps the job id onto a directory with filepath.Base, and the empty
// id (also ".", "..", "/") gives the parent directory itself:
// shuffle.Layout.jobDir returns DATA/maps, DATA/gather and DATA/results, so
// JobForget{Job: "", Results: true} (a msgpack body of {0x80} with
// results=true, or any body whose "job" is empty) removes the partials,
// gathered copies and committed results of EVERY job on the node
// (pkg/node/node.go handleForget → pkg/shuffle/files.go ForgetIntermediate
// and ForgetResults). A finished job's result is then gone.
func TestFuzzFoundForgetEmptyJobWipesEveryJob(t *testing.T) {
	c := testcluster.Start(hostile.Quiet(t), 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	paths := hostile.WriteCorpus(t, t.TempDir(), 1, 32<<10, 3)
	cl := c.Client("dlbp")
	id, err := hostile.Submit(ctx, cl, paths, 2, 8<<10)
	if err != nil {
		t.Fatal(err)
	}
	hostile.CheckResult(t, ctx, cl, id, paths)
	for _, n := range c.Nodes {
		hostile.Call(t, n.Server, protocol.MethodJobForget, hostile.Encode(&protocol.JobForget{Job: "", Results: true}))
	}
	st, err := cl.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cl.WriteResult(ctx, st, &out); err != nil {
		t.Fatalf("DEFECT: job.forget of job \"\" removed the result of job %s: %v", id, err)
	}
}

// TestFuzzFoundRunMapHugeReducersCrashesNode: map.run trusts Spec.Reducers.
// A generated task (no input to fetch) with Reducers = 2^62-1 passes
// job.NewMapper and reaches writePartials (pkg/node/node.go), whose
// make([]*os.File, R) panics in the task's goroutine, which has no
// recover: the node process dies. (Smaller huge values such as 1<<33 are
// worse: a fatal out-of-memory.) The test runs the node in a child process.
func TestFuzzFoundRunMapHugeReducersCrashesNode(t *testing.T) {
	if os.Getenv("DLBP_DEFECT_CHILD") == t.Name() {
		c := testcluster.Start(hostile.Quiet(t), 1)
		hostile.Call(t, c.Nodes[0].Server, protocol.MethodMapRun, hostile.Encode(&protocol.RunMap{
			Job: "jhuge", Spec: job.Spec{Job: "sum", Reducers: math.MaxInt64 >> 1},
			Input: job.Task{Lo: "1", Hi: "10"}, Maps: 1, MapLB: hostile.Unroutable,
		}))
		time.Sleep(3 * time.Second) // the map task runs in the background
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DLBP_DEFECT_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 3000 {
			out = out[:3000]
		}
		t.Fatalf("DEFECT: the node process died on map.run with 2^62 reducers: %v\n%s", err, out)
	}
}
