package client_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// stallCluster is a cluster of n nodes whose reducelb gives up work after stall without
// progress.
func stallCluster(t *testing.T, n int, stall time.Duration) *testcluster.Cluster {
	return testcluster.StartWith(t, n, func(o *daemon.Options) {
		if o.Role == cluster.RoleReduceLB {
			o.Stall = stall
		}
		if o.Name == "maplb" {
			o.ResultKeep = 10 * time.Second // long enough to read the result, short for the test
		}
	})
}

// sortInput writes size bytes of text and returns it with its sorted lines.
func sortInput(t *testing.T, size, seed int64) (string, []byte) {
	text := genText(t, size, seed)
	var want bytes.Buffer
	if err := reference.Sort([]string{text}, &want); err != nil {
		t.Fatal(err)
	}
	return text, want.Bytes()
}

// TestLostCopyReportsRecovered: every node loses its first report of a copied part
// (result.copied), as a network may. reducelb asks the copiers again, each says its report
// again, and the sort finishes exact. (Before, reducelb waited for the lost report forever.)
func TestLostCopyReportsRecovered(t *testing.T) {
	c := stallCluster(t, 3, time.Minute)
	var lost atomic.Int32
	for _, nd := range c.Nodes {
		var once sync.Once
		nd.DropReportsForTest(func(method string, _ any) bool {
			drop := false
			if method == protocol.MethodResultCopied {
				once.Do(func() { drop = true; lost.Add(1) })
			}
			return drop
		})
	}
	text, want := sortInput(t, 8<<20, 21)
	st, got := run(t, c.Client("dlbp"), job.Spec{Job: "sort", Reducers: 2}, 1<<20, []string{text})
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	firstDiff(t, got, want)
	if lost.Load() == 0 {
		t.Fatal("no copy report was lost: the test tested nothing")
	}
	for _, p := range st.Parts {
		if p.Copy == "" {
			t.Errorf("part %d has no copy: %+v", p.Partition, p)
		}
	}
	t.Logf("%d copy reports lost; parts %+v", lost.Load(), st.Parts)
}

// TestStalledReducerReplaced: the first node picked to reduce partition 0 never gets its
// report through (every reduce.done it sends is lost: a one-way cut, or a reducer that hangs
// after its work), so its partition shows no progress. After the stall timeout reducelb gives
// the partition to another node, and the sort finishes exact. (Before, the job waited forever.)
func TestStalledReducerReplaced(t *testing.T) {
	c := stallCluster(t, 3, 3*time.Second)
	var first atomic.Value // the name of the first node to report partition 0
	var lost atomic.Int32
	for _, nd := range c.Nodes {
		name := nd.Opts.Name
		nd.DropReportsForTest(func(method string, msg any) bool {
			d, ok := msg.(*protocol.ReduceDone)
			if method != protocol.MethodReduceDone || !ok || d.Partition != 0 {
				return false
			}
			first.CompareAndSwap(nil, name)
			if first.Load() == name {
				lost.Add(1)
				return true
			}
			return false
		})
	}
	text, want := sortInput(t, 8<<20, 22)
	start := time.Now()
	st, got := run(t, c.Client("dlbp"), job.Spec{Job: "sort", Reducers: 2}, 1<<20, []string{text})
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	firstDiff(t, got, want)
	stuck, _ := first.Load().(string)
	if stuck == "" {
		t.Fatal("no reduce report was lost: the test tested nothing")
	}
	var p0 []string
	for _, r := range st.Reduces {
		if r.Task == 0 {
			for _, a := range r.Attempts {
				p0 = append(p0, a.Node+":"+string(a.State)+" "+a.Reason)
			}
		}
	}
	if got := st.Parts[0].Node; got == stuck {
		t.Errorf("partition 0's part is on %s, whose reports were all lost", got)
	}
	t.Logf("%s lost %d reports; the job took %v; partition 0's attempts: %q", stuck, lost.Load(), time.Since(start).Round(time.Millisecond), p0)
	// The stuck reducer committed its part, which no status names: once the job expires, it
	// is removed too.
	var stuckDir string
	for _, nd := range c.Nodes {
		if nd.Opts.Name == stuck {
			stuckDir = filepath.Join(nd.Opts.DataDir, "results", st.ID)
		}
	}
	if _, err := os.Stat(stuckDir); err != nil {
		t.Fatalf("the stuck reducer's part is not where the test looks (%v): it tests nothing", err)
	}
	testcluster.WaitFor(t, 30*time.Second, "the stuck reducer's part to be removed once the job expired", func() bool {
		_, err := os.Stat(stuckDir)
		return os.IsNotExist(err)
	})
}

// TestRelayIsNarrow: a node passes on only the load balancers' own messages, only to a load
// balancer of its cluster, and passes back the answer or the error of the load balancer.
func TestRelayIsNarrow(t *testing.T) {
	c := testcluster.Start(t, 2)
	rpc := transport.NewClient(transport.ClientConfig{})
	defer rpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := c.Nodes[0].RPCAddr()
	forget, err := protocol.Marshal(&protocol.JobForget{Job: "jnosuchjob"})
	if err != nil {
		t.Fatal(err)
	}
	relay := func(to, method string, body []byte) error {
		return rpc.Call(ctx, node, protocol.MethodRelay, &protocol.Relay{To: to, Method: method, Body: body}, nil)
	}
	if err := relay(c.ReduceLB.RPCAddr(), protocol.MethodJobForget, forget); err != nil {
		t.Errorf("a forget relayed to reducelb: %v", err)
	}
	if err := relay(c.ReduceLB.RPCAddr(), protocol.MethodMapRun, forget); transport.CodeOf(err) != transport.CodeBadRequest {
		t.Errorf("map.run relayed: %v, want bad_request", err)
	}
	// Not passed on to anyone but a load balancer; refused as unavailable, since the load
	// balancer may be one that gossip has not told of yet.
	if err := relay(c.Nodes[1].RPCAddr(), protocol.MethodJobForget, forget); transport.CodeOf(err) != transport.CodeUnavailable {
		t.Errorf("a forget relayed to a node: %v, want unavailable", err)
	}
	if err := relay("127.0.0.1:1", protocol.MethodJobForget, forget); transport.CodeOf(err) != transport.CodeUnavailable {
		t.Errorf("a forget relayed to an unknown address: %v, want unavailable", err)
	}
	// reducelb's own answer comes back: an unknown job's reduce.failed is not_found there.
	failed, _ := protocol.Marshal(&protocol.ReduceFailed{Job: "jnosuchjob", Partition: 0, Node: "x"})
	if err := relay(c.ReduceLB.RPCAddr(), protocol.MethodReduceFailed, failed); transport.CodeOf(err) != transport.CodeBadRequest {
		t.Errorf("reduce.failed relayed: %v, want bad_request (not a relayed method)", err)
	}
	reg, _ := protocol.Marshal(&protocol.RegisterJob{Job: "bad id!", Maps: 1})
	if err := relay(c.ReduceLB.RPCAddr(), protocol.MethodJobRegister, reg); transport.CodeOf(err) != transport.CodeBadRequest {
		t.Errorf("a bad registration relayed: %v, want reducelb's bad_request", err)
	} else {
		t.Logf("reducelb's answer, relayed: %v", err)
	}
}

// TestNodeGoneBeforeReduceLBSawIt: reducelb is down while a job's maps run, so every report of
// a finished map reaches maplb only, which keeps passing it on; one node then dies, and
// reducelb comes back after it: reducelb never saw that node, answers that it is no member,
// and would never learn that it left. maplb, which saw it leave, runs its tasks again, and the
// job finishes exact. (Before, maplb passed those reports on forever and the job hung.)
func TestNodeGoneBeforeReduceLBSawIt(t *testing.T) {
	// The job starts while reducelb is up (maplb starts a job only then), with no node yet;
	// reducelb then stops, and the nodes that join run every map without it.
	c := testcluster.Start(t, 0)
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, want := submitWordcount(ctx, t, cl, 4<<20, 23, 256<<10, 2)
	testcluster.WaitFor(t, 30*time.Second, "the job to start", func() bool {
		st, err := cl.Status(ctx, id)
		return err == nil && st.State == protocol.StateRunning
	})
	c.StopReduceLB()
	c.AddNode("node1")
	c.AddNode("node2")
	testcluster.WaitFor(t, time.Minute, "every map task to finish", func() bool {
		st, err := cl.Status(ctx, id)
		return err == nil && st.MapsTotal > 0 && st.MapsDone == st.MapsTotal
	})
	st, _ := cl.Status(ctx, id)
	victim := c.Nodes[0]
	ran := 0
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			if a.Node == victim.Opts.Name && a.State == "done" {
				ran++
			}
		}
	}
	if ran == 0 {
		t.Fatalf("%s ran no map task: the test tests nothing", victim.Opts.Name)
	}
	victim.Close()
	c.Nodes = c.Nodes[1:]
	testcluster.WaitFor(t, 30*time.Second, "maplb to see the node gone", func() bool {
		for _, m := range c.MapLB.Members(cluster.RoleNode) {
			if m.Name == victim.Opts.Name {
				return false
			}
		}
		return true
	})
	c.StartReduceLB()
	st, err := cl.Wait(ctx, id, nil)
	if err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("wait: %v %+v", err, st)
	}
	var out bytes.Buffer
	if err := cl.WriteResult(ctx, st, &out); err != nil {
		t.Fatal(err)
	}
	firstDiff(t, out.Bytes(), want)
	t.Logf("%s had finished %d map tasks before it died; the job finished exact", victim.Opts.Name, ran)
}
