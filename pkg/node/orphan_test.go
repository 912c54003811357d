package node_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestOrphanResultsRemoved: a node holding parts is down when its job expires, so maplb's
// forget never reaches it; back on the same data directory, it asks the maplbs and removes the
// results no maplb knows any more, once they have not changed for a while. (The chaos run with
// seed 1796416015727227126 found such a part left behind.)
func TestOrphanResultsRemoved(t *testing.T) {
	c := testcluster.StartWith(t, 2, func(o *daemon.Options) {
		if o.Name == "maplb" {
			o.ResultKeep = 3 * time.Second
		}
	})
	path := filepath.Join(t.TempDir(), "text.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := corpus.Generate(f, 2<<20, 71); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, _ := client.FileInputs([]string{path}, nil)
	st, err := cl.Submit(ctx, job.Spec{Job: "sort", Reducers: 2}, 256<<10, in)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("%v %+v", err, st)
	}
	nd := c.Nodes[0]
	name, dir := nd.Opts.Name, nd.Opts.DataDir
	results := filepath.Join(dir, "results", st.ID)
	if _, err := os.Stat(results); err != nil {
		t.Fatalf("%s holds no part of the job (%v): the test tests nothing", name, err)
	}
	nd.Close()
	c.Nodes = c.Nodes[1:]
	testcluster.WaitFor(t, 30*time.Second, "the job to expire at maplb", func() bool {
		_, err := cl.Status(ctx, st.ID)
		return err != nil
	})
	back := c.AddNodeWith(name, dir)
	c.WaitMembers(5)
	if _, err := os.Stat(results); err != nil {
		t.Fatalf("the part went before the sweep: %v", err)
	}
	back.DropOrphanResults(time.Now().Add(3 * time.Minute)) // as if they had sat for 3 minutes
	if _, err := os.Stat(results); !os.IsNotExist(err) {
		t.Fatalf("the expired job's results are still there: %v", err)
	}
}
