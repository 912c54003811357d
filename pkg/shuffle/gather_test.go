package shuffle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dlbp/dlbp/pkg/integrity"
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
		return &protocol.Chunk{Data: emptyPartial(t), EOF: true}, nil // no records
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

// emptyPartial is a partial without records: an empty checked stream.
func emptyPartial(t *testing.T) []byte {
	var b bytes.Buffer
	if err := integrity.NewWriter(&b).Close(); err != nil {
		t.Error(err)
	}
	return b.Bytes()
}

// TestGathererExpire: a gathering no Add has named for longer than the idle time is dropped
// (its fetches stop, its gathered partials go); one named lately stays; an Add after the drop
// starts it again.
func TestGathererExpire(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	layout := Layout{Dir: t.TempDir()}
	core, logs := observer.New(zap.WarnLevel)
	g := NewGatherer(layout, client, "reducer", zap.New(core), func(string, int, int64, error, bool) {})
	defer g.Close()
	spec := job.Spec{Job: "wordcount", Reducers: 2}
	// Partition 0 waits for a partial it cannot fetch (its holder is gone); its directory
	// holds what it gathered.
	g.Add("jold", 0, spec, 2, []protocol.Partial{{Task: 0, Node: "dead", RPC: deadAddr, Seq: 1}})
	// Its fetch gives up after a few tries: until then a try may make the directory again
	// after Expire removed it (the try that was under way when Expire ran).
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessage("fetching partial failed").Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the fetch from the dead holder did not give up within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gathered := filepath.Dir(layout.GatherPath("jold", 0, 0))
	if err := os.MkdirAll(gathered, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(layout.GatherPath("jold", 0, 1), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if gone := g.Expire(time.Minute, time.Now()); len(gone) != 0 {
		t.Fatalf("dropped %v, named a moment ago", gone)
	}
	later := time.Now().Add(2 * time.Minute)
	g.Add("jlive", 1, spec, 2, nil) // named "now"; the clock passed to Expire is later
	gone := g.Expire(time.Minute, later)
	if len(gone) != 2 || gone[0] != "jlive/1" || gone[1] != "jold/0" {
		t.Fatalf("Expire dropped %v, want both partitions idle for 2 minutes", gone)
	}
	if _, err := os.Stat(gathered); !os.IsNotExist(err) {
		t.Errorf("the gathered partials of jold/0 are still there (%v)", err)
	}
	g.Add("jold", 0, spec, 2, nil)
	if gone := g.Expire(time.Minute, time.Now()); len(gone) != 0 {
		t.Errorf("dropped %v right after an Add named it again", gone)
	}
}

// blockingRunner is a user reducer that waits for release, then copies its input out.
type blockingRunner struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingRunner) Run(ctx context.Context, p job.Program) error {
	close(b.started)
	<-b.release // it does not stop when asked: its output arrives after the job is forgotten
	_, err := io.Copy(p.Stdout, p.Stdin)
	return err
}

// TestForgottenReduceCommitsNothing: a partition whose job is forgotten while its reducer runs
// (a cancelled job, a superseded reducer) commits no part, even when the reducer ends well
// afterwards: nobody would ever ask for that part or remove it (the issue saw a 222 MB part of
// a cancelled sort committed 140 ms after the cancel, and kept forever).
func TestForgottenReduceCommitsNothing(t *testing.T) {
	h := startHolder(t, map[[2]int][]byte{{0, 0}: partialOf(t, "apple")})
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	layout := Layout{Dir: t.TempDir()}
	g := NewGatherer(layout, client, "reducer", zap.NewNop(), func(string, int, int64, error, bool) {})
	runner := &blockingRunner{started: make(chan struct{}), release: make(chan struct{})}
	g.Runner = runner
	spec := job.Spec{Job: job.StreamingJob, Reducers: 1, Stream: &job.Stream{
		Mapper: job.Command{Args: []string{"cat"}}, Reducer: job.Command{Args: []string{"cat"}},
	}}
	g.Add("jgone", 0, spec, 1, []protocol.Partial{{Task: 0, Node: "holder", RPC: h.addr, Seq: 1}})
	select {
	case <-runner.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the reducer did not start within 20 s")
	}
	g.Forget("jgone")
	close(runner.release)
	g.Close() // waits for the reduce to end
	if _, err := os.Stat(layout.ResultPath("jgone", 0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a part of the forgotten job was committed: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(layout.ResultPath("jgone", 0)), "*")); len(left) > 0 {
		t.Fatalf("the forgotten job's reduce left %v", left)
	}
}
