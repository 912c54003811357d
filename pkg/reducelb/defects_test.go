package reducelb_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/test/hostile"
)

// The tests in this file reproduce defects that fuzzing found in the reduce
// load balancer. Each names the input and
// what used to happen, and now checks that it no longer does (the daemons
// validate job ids, reducer and map counts, and membership).

// TestFuzzFoundForgedMapDoneAddsPhantomReducer: map.done from a node name that
// is not a cluster member makes reducelb add that name as a live node
// (pkg/sched/reduce.go MapDone: "The node reported before gossip told us of
// it: it is alive" → NodeUp), and its Running field is taken as the node's
// load (pkg/reducelb/reducelb.go handleMapDone → sched.SetRunning). Gossip
// never reports the phantom gone, so from then on pick() may choose it as
// the reducer of any job's partitions; reduce.add is sent to its made-up
// address and never arrives, and every such job waits forever. A second
// such message with Running < 0 makes the phantom the least loaded node for good. The
// FuzzReduceLB seeds trip over the same defect (its post-seed job hangs).
func TestFuzzFoundForgedMapDoneAddsPhantomReducer(t *testing.T) {
	c := testcluster.Start(hostile.Quiet(t), 2)
	forged := hostile.Encode(&protocol.MapDone{
		Job: "jghost", Task: 0, Attempt: 0, Node: "a-ghost", NodeRPC: hostile.Unroutable,
		Running: -100, Spec: job.Spec{Job: "wordcount", Reducers: 1}, MapCount: 1, MapLB: hostile.Unroutable,
	})
	t.Log("DEFECT if the job below times out: a forged map.done made a phantom node the reducer")
	// The first report adds the phantom, the second sets its load.
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodMapDone, forged)
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodMapDone, forged)
	hostile.CheckWordCount(t, c, 20*time.Second)
}

// TestFuzzFoundRegisterHugeReducersPanics: job.register (and map.done of an
// unknown job, which registers it) trusts Spec.Reducers; maplb caps it at
// 1024 but reducelb does not. sched.ReduceScheduler.AddJob
// (pkg/sched/reduce.go) allocates one partition per reducer: 2^62-1 panics
// in make (the server recovers it, but reducelb.register has already stored
// the job and asked for it to be persisted), and 2^31 asks for 16 GiB, a
// fatal out-of-memory that kills the process.
func TestFuzzFoundRegisterHugeReducersPanics(t *testing.T) {
	c := testcluster.Start(hostile.Quiet(t), 1)
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodJobRegister, hostile.Encode(&protocol.RegisterJob{
		Job: "jhuge", Spec: job.Spec{Job: "wordcount", Reducers: math.MaxInt64 >> 1}, Maps: 1, MapLB: hostile.Unroutable,
	}))
}

// TestFuzzFoundRegisterHugeMapsHangs: job.register (or map.done of an unknown
// job) trusts Maps. With Maps = 2^63-1 (the "max-ints" seeds), the job's
// record is saved by the saver goroutine, which holds r.mu while
// sched.ReduceScheduler.Snapshot → Outputs loops over every map task index
// (pkg/sched/reduce.go:321 `for ti := 0; ti < j.maps; ti++`, called from
// pkg/reducelb/persist.go save). It never finishes: every handler and
// goroutine of reducelb then waits for r.mu forever, and Close never
// returns. NodeDown and Restore loop over j.maps the same way. The test runs
// reducelb in a child process and kills it.
func TestFuzzFoundRegisterHugeMapsHangs(t *testing.T) {
	if os.Getenv("DLBP_DEFECT_CHILD") == t.Name() {
		// Once a call hangs, the cleanup (reducelb.Close) hangs too: exit.
		time.AfterFunc(15*time.Second, func() { os.Exit(1) })
		c := testcluster.Start(hostile.Quiet(t), 1)
		hostile.Call(t, c.ReduceLB.Server, protocol.MethodJobRegister, hostile.Encode(&protocol.RegisterJob{
			Job: "jhuge", Spec: job.Spec{Job: "wordcount", Reducers: 1}, Maps: math.MaxInt64, MapLB: hostile.Unroutable,
		}))
		// Any later call must still be served, once the saver has run.
		time.Sleep(time.Second)
		hostile.Call(t, c.ReduceLB.Server, protocol.MethodJobForget, hostile.Encode(&protocol.JobForget{Job: "jother"}))
		os.Exit(0) // skip the cleanup, which waits for the stuck goroutine
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "DLBP_DEFECT_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		// The child's report holds every stack: keep what names dlbp.
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "DEFECT") || strings.Contains(l, "/pkg/sched/") || strings.Contains(l, "/pkg/reducelb/") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		t.Fatalf("DEFECT: reducelb hangs after job.register with 2^63-1 maps (%v):\n%s", err, strings.Join(lines, "\n"))
	}
}
