package node

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestDropStaleOutputs: map outputs nobody named for a while are looked up at their maplb and
// dropped when their job has ended or is unknown there (it ended while this node was cut
// off); those of a running job, of a job named lately, or of a job whose maplb does not answer
// stay.
func TestDropStaleOutputs(t *testing.T) {
	srv := transport.NewServer(transport.ServerConfig{})
	transport.Handle(srv, protocol.MethodJobStatus, func(_ context.Context, r *protocol.JobRef) (*protocol.JobStatus, error) {
		switch r.Job {
		case "jlive", "jrecent":
			return &protocol.JobStatus{ID: r.Job, State: protocol.StateRunning}, nil
		case "jdone":
			return &protocol.JobStatus{ID: r.Job, State: protocol.StateSucceeded}, nil
		}
		return nil, transport.Errorf(transport.CodeNotFound, "no job %s", r.Job)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // a maplb that does not answer

	o := daemon.Defaults(cluster.RoleNode)
	o.Name, o.RPC, o.Gossip, o.HTTP, o.DataDir = "node-test", "127.0.0.1:0", "127.0.0.1:0", "", t.TempDir()
	n, err := New(o, zap.NewNop(), cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Base.Stop(context.Background())
	maplbOf := map[string]string{"jlive": l.Addr().String(), "jdone": l.Addr().String(), "jgone": l.Addr().String(),
		"jrecent": l.Addr().String(), "jsilent": deadAddr, "junknown": ""}
	for job, lb := range maplbOf {
		path := n.layout.PartialPath(job, 0, 0, 0)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if job != "junknown" { // outputs this node has no record of
			n.namedOutputs(job, lb)
		}
	}
	later := time.Now().Add(outputIdle + time.Minute)
	n.outMu.Lock()
	recent := n.outputs["jrecent"]
	recent.named = later
	n.outputs["jrecent"] = recent
	n.outMu.Unlock()
	n.dropStaleOutputs(later)
	for job, keep := range map[string]bool{"jlive": true, "jrecent": true, "jsilent": true, "jdone": false, "jgone": false, "junknown": false} {
		_, err := os.Stat(filepath.Dir(n.layout.PartialPath(job, 0, 0, 0)))
		if kept := err == nil; kept != keep {
			t.Errorf("outputs of %s: kept %v, want %v", job, kept, keep)
		}
	}
}
