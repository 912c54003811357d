package shuffle

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestGathererIgnoresStaleLocation: older news of a map task's output (lower Seq), delivered
// after newer news (the reducer was stopped while both were sent, and they arrived out of
// order), must not replace the newer location. The chaos test found a reducer that cancelled
// its fetch from the live node and waited forever on the old, dead one.
func TestGathererIgnoresStaleLocation(t *testing.T) {
	release := make(chan struct{})
	srv := transport.NewServer(transport.ServerConfig{})
	transport.Handle(srv, protocol.MethodPartialRead, func(ctx context.Context, r *protocol.PartialRead) (*protocol.Chunk, error) {
		select { // the partial of attempt 1 is held until the stale news is in
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &protocol.Chunk{EOF: true}, nil // an empty partial: no records
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
	dead.Close() // nothing listens there: connection refused, as from a killed node

	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	done := make(chan error, 1)
	g := NewGatherer(Layout{Dir: t.TempDir()}, client, "reducer", zap.NewNop(), func(_ string, _ int, _ int64, err error, _ bool) {
		done <- err
	})
	defer g.Close()
	spec := job.Spec{Job: "wordcount", Reducers: 1}
	// The current output is attempt 0's (reported late, after attempt 1's output was lost), so
	// attempt numbers say nothing; Seq, reducelb's order of news, does.
	g.Add("jtest", 0, spec, 1, []protocol.Partial{{Task: 0, Attempt: 0, Node: "live", RPC: l.Addr().String(), Seq: 2}})
	g.Add("jtest", 0, spec, 1, []protocol.Partial{{Task: 0, Attempt: 1, Node: "dead", RPC: deadAddr, Seq: 1}})
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("partition failed: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the partition was not reduced: the stale location replaced the live one")
	}
}
