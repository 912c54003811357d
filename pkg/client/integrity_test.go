package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// flipMiddle changes one byte in the middle of a file, its size unchanged: what a disk that
// rots does.
func flipMiddle(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedPartIsNeverPrinted: after a sort succeeded, one byte in the middle of each part
// file on its reducer's disk is changed (the first case: a wordcount printed a wrong
// count with exit 0). The client reads the parts' copies instead and prints the exact output.
// Once the copies are damaged too, the client fails with a message naming the part, and every
// line it printed before is a line of the reference: nothing damaged is ever printed. (Sort:
// its parts are as large as its input, so they are kept on the nodes' disks, not inline.)
func TestDamagedPartIsNeverPrinted(t *testing.T) {
	c := testcluster.Start(t, 3)
	paths := []string{genText(t, 1<<20, 7)}
	var want bytes.Buffer
	if err := reference.Sort(paths, &want); err != nil {
		t.Fatal(err)
	}
	cl := c.Client("dlbp")
	st, got := run(t, cl, job.Spec{Job: "sort", Reducers: 2}, 64<<10, paths)
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	firstDiff(t, got, want.Bytes())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testcluster.WaitFor(t, 30*time.Second, "both parts copied", func() bool {
		s, err := cl.Status(ctx, st.ID)
		if err != nil {
			return false
		}
		st = s
		copied := 0
		for _, loc := range s.Parts {
			if loc.Inline {
				t.Fatalf("part %d is inline (%d bytes): the test needs parts kept on the nodes' disks", loc.Partition, loc.Size)
			}
			if loc.Copy != "" {
				copied++
			}
		}
		return copied == st.Partitions
	})
	dirOf := map[string]string{}
	for _, nd := range c.Nodes {
		dirOf[nd.Opts.Name] = nd.Opts.DataDir
	}
	partFile := func(node string, p int) string {
		return filepath.Join(dirOf[node], "results", st.ID, fmt.Sprintf("part-%05d", p))
	}

	for _, loc := range st.Parts {
		flipMiddle(t, partFile(loc.Node, loc.Partition))
	}
	var out bytes.Buffer
	if err := cl.WriteResult(ctx, st, &out); err != nil {
		t.Fatalf("with the reducers' files damaged, the copies were not used: %v", err)
	}
	firstDiff(t, out.Bytes(), want.Bytes())

	for _, loc := range st.Parts {
		flipMiddle(t, partFile(loc.Copy, loc.Partition))
	}
	out.Reset()
	err := cl.WriteResult(ctx, st, &out)
	if !integrity.IsCorrupt(err) && (err == nil || !strings.Contains(err.Error(), "damaged")) {
		t.Fatalf("with every copy damaged: error %v, want one saying the part is damaged", err)
	}
	if !strings.Contains(err.Error(), "part ") || !strings.Contains(err.Error(), st.ID) {
		t.Errorf("the error %q does not name the part and the job", err)
	}
	t.Logf("with every copy damaged: %v", err)
	lines := map[string]bool{}
	for _, l := range strings.SplitAfter(want.String(), "\n") {
		lines[l] = true
	}
	printed := strings.SplitAfter(out.String(), "\n")
	for _, l := range printed[:len(printed)-1] { // the last may be cut short by the failure
		if !lines[l] {
			t.Fatalf("printed %q, which is not a line of the reference", l)
		}
	}
}

// TestDamagedInputFailsTheJob: a byte of a job's stored input changed on maplb's disk after the
// job was accepted (the second case, which gave a wrong count with exit 0) is found as
// the map task reads it: the input has no other copy, so the job fails with a message naming
// the document, in both modes.
func TestDamagedInputFailsTheJob(t *testing.T) {
	c := testcluster.Start(t, 0) // no node yet: the accepted job waits, its input untouched
	paths := inputs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, mode := range []string{"dlbp", "single"} {
		cl := c.Client(mode)
		in, err := client.FileInputs(paths[:1], nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 2}, 64<<10, in)
		if err != nil {
			t.Fatalf("mode %s: submit: %v", mode, err)
		}
		lb := c.MapLB
		if mode == "single" {
			lb = c.Single
		}
		docs, err := filepath.Glob(filepath.Join(lb.Opts.DataDir, "*", st.ID, "input", "doc-00000"))
		if err != nil || len(docs) != 1 {
			t.Fatalf("mode %s: the stored document of job %s: %v %v", mode, st.ID, docs, err)
		}
		flipMiddle(t, docs[0])
		if i == 0 {
			c.AddNode("node1")
		}
		st, err = cl.Wait(ctx, st.ID, nil)
		if err != nil {
			t.Fatalf("mode %s: wait: %v", mode, err)
		}
		if st.State != protocol.StateFailed || !strings.Contains(st.Error, "document 0") || !strings.Contains(st.Error, "damaged") {
			t.Fatalf("mode %s: job %s: %q, want it failed naming the damaged document", mode, st.State, st.Error)
		}
		t.Logf("mode %s: %s", mode, st.Error)
	}
}

// TestDamagedInlinePart: a small part travels inline with the job's status (maplb keeps it with
// the job's record); damaged there, it is read from the reducer's file instead, from the
// failed block on. The "maplb" and the reducer here are one fake server, so that the inline
// copy can be damaged.
func TestDamagedInlinePart(t *testing.T) {
	var part bytes.Buffer
	cw := integrity.NewWriter(&part)
	rw := job.NewRecordWriter(cw)
	var want bytes.Buffer
	for i := range 3000 {
		line := fmt.Sprintf("line %05d of the part", i)
		if err := rw.Write([]byte(line), []byte(line)); err != nil {
			t.Fatal(err)
		}
		want.WriteString(line + "\n")
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	good := part.Bytes()
	srv := transport.NewServer(transport.ServerConfig{})
	transport.Handle(srv, protocol.MethodResultRead, func(_ context.Context, r *protocol.ResultRead) (*protocol.Chunk, error) {
		end := min(r.Offset+protocol.ChunkSize, int64(len(good)))
		return &protocol.Chunk{Data: good[r.Offset:end], EOF: end == int64(len(good))}, nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	damaged := bytes.Clone(good)
	damaged[len(damaged)*2/3] ^= 0x04
	st := &protocol.JobStatus{ID: "jinline", Partitions: 1, Parts: []protocol.PartLocation{
		{Partition: 0, Node: "n1", RPC: l.Addr().String(), Size: int64(len(good)), Inline: true, Data: damaged},
	}}
	cl := client.New(l.Addr().String(), nil)
	defer cl.Close()
	var out bytes.Buffer
	if err := cl.WriteResult(context.Background(), st, &out); err != nil {
		t.Fatalf("a damaged inline part with a good file on its reducer: %v", err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("output differs: %d bytes, want %d", out.Len(), want.Len())
	}
}
