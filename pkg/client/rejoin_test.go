package client_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/pkg/client"

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

// TestNodeRestartsFasterThanGossip kills a node that holds finished map
// outputs (and may reduce) and starts it again under the same name at once,
// before gossip can call it gone: the load balancers must see the new run
// (its Boot changed) and redo what the old one held.
func TestNodeRestartsFasterThanGossip(t *testing.T) {
	paths := inputs(t)
	paths = append(append(paths, paths...), paths...)
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"dlbp", "single"} {
		t.Run(mode, func(t *testing.T) {
			c := testcluster.Start(t, 3)
			cl := c.Client(mode)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			in, _ := client.FileInputs(paths, nil)
			st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 3}, 32<<10, in)
			if err != nil {
				t.Fatal(err)
			}
			victim := waitForDoneMapOn(t, cl, st.ID)
			for i, n := range c.Nodes {
				if n.Opts.Name == victim {
					o := n.Opts
					n.Close()
					c.Nodes = append(c.Nodes[:i], c.Nodes[i+1:]...)
					c.AddNodeWith(o.Name, o.DataDir)
					break
				}
			}
			st, err = cl.Wait(ctx, st.ID, nil)
			if err != nil {
				dumpStatus(t, cl, st.ID)
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
