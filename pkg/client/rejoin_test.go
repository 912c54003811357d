package client_test

import (
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestNodeRejoins stops a node abruptly and brings it back under its old
// name (same data directory, new ports), then adds one under a new name:
// both take map tasks again.
func TestNodeRejoins(t *testing.T) {
	c := testcluster.Start(t, 2)
	paths := inputs(t)
	old := c.Nodes[0]
	o := old.Opts
	old.Close()
	c.Nodes = c.Nodes[1:]
	testcluster.WaitFor(t, 10*time.Second, "the node to be seen gone", func() bool {
		return len(c.MapLB.Cluster.Members()) == 4
	})
	back := c.AddNodeWith(o.Name, o.DataDir)
	fresh := c.AddNode("node-new")
	c.WaitMembers(6)
	st, _ := run(t, c.Client("dlbp"), job.Spec{Job: "wordcount", Reducers: 2}, 64<<10, paths)
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	ran := map[string]int{}
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			ran[a.Node]++
		}
	}
	for _, n := range []string{back.Opts.Name, fresh.Opts.Name} {
		if ran[n] == 0 {
			t.Errorf("%s took no map task after joining: %v", n, ran)
		}
	}
}
