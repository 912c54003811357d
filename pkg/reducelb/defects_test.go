package reducelb_test

import (
	"math"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/test/hostile"
)

// The tests in this file reproduce defects that fuzzing found in the reduce
// load balancer. They FAIL until the daemon is fixed; each names the input,
// what happens, and where.

// TestDefectForgedMapDoneAddsPhantomReducer: map.done from a node name that
// is not a cluster member makes reducelb add that name as a live node
// (pkg/sched/reduce.go MapDone: "The node reported before gossip told us of
// it: it is alive" → NodeUp), and its Running field is taken as the node's
// load (pkg/reducelb/reducelb.go handleMapDone → sched.SetRunning). Gossip
// never reports the phantom gone, so from then on pick() may choose it as
// the reducer of any job's partitions; reduce.add is sent to its made-up
// address and never arrives, and every such job waits forever. A second
// such message with Running < 0 makes the phantom the least loaded node for good. The
// FuzzReduceLB seeds trip over the same defect (its post-seed job hangs).
func TestDefectForgedMapDoneAddsPhantomReducer(t *testing.T) {
	c := testcluster.Start(hostile.Quiet(t), 2)
	forged := hostile.Encode(&protocol.MapDone{
		Job: "jghost", Task: 0, Attempt: 0, Node: "a-ghost", NodeRPC: hostile.Unroutable,
		Running: -100, Spec: job.Spec{Job: "wordcount", Reducers: 1}, MapCount: 1, MapLB: hostile.Unroutable,
	})
	// The first report adds the phantom, the second sets its load.
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodMapDone, forged)
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodMapDone, forged)
	hostile.CheckWordCount(t, c, 20*time.Second)
}

// TestDefectRegisterHugeReducersPanics: job.register (and map.done of an
// unknown job, which registers it) trusts Spec.Reducers; maplb caps it at
// 1024 but reducelb does not. sched.ReduceScheduler.AddJob
// (pkg/sched/reduce.go) allocates one partition per reducer: 2^62-1 panics
// in make (the server recovers it, but reducelb.register has already stored
// the job and asked for it to be persisted), and 2^31 asks for 16 GiB, a
// fatal out-of-memory that kills the process.
func TestDefectRegisterHugeReducersPanics(t *testing.T) {
	c := testcluster.Start(hostile.Quiet(t), 1)
	hostile.Call(t, c.ReduceLB.Server, protocol.MethodJobRegister, hostile.Encode(&protocol.RegisterJob{
		Job: "jhuge", Spec: job.Spec{Job: "wordcount", Reducers: math.MaxInt64 >> 1}, Maps: 1, MapLB: hostile.Unroutable,
	}))
}
