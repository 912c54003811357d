package shuffle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// partialOf is a partial of sort holding keys (each seen once: the value is uvarint(1)), checked.
func partialOf(t *testing.T, keys ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	cw := integrity.NewWriter(&b)
	rw := job.NewRecordWriter(cw)
	for _, k := range keys {
		if err := rw.Write([]byte(k), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// holder serves partials by task and attempt, and counts the fetches of each.
type holder struct {
	mu       sync.Mutex
	partials map[[2]int][]byte
	fetches  map[[2]int]int
	addr     string
}

func startHolder(t *testing.T, partials map[[2]int][]byte) *holder {
	h := &holder{partials: partials, fetches: map[[2]int]int{}}
	srv := transport.NewServer(transport.ServerConfig{})
	transport.Handle(srv, protocol.MethodPartialRead, func(ctx context.Context, r *protocol.PartialRead) (*protocol.Chunk, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		k := [2]int{r.Task, r.Attempt}
		data, ok := h.partials[k]
		if !ok {
			return nil, transport.Errorf(transport.CodeNotFound, "no partial %v", k)
		}
		if r.Offset == 0 {
			h.fetches[k]++
		}
		return readChunkAt(bytes.NewReader(data), r.Offset, int64(len(data))-r.Offset)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	h.addr = l.Addr().String()
	return h
}

func (h *holder) fetchesOf(task, attempt int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fetches[[2]int{task, attempt}]
}

// partKeys reads a committed part's keys.
func partKeys(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr := job.NewRecordReader(integrity.NewReader(f, path))
	var keys []string
	for {
		k, _, err := rr.Next()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(k))
	}
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20 s", what)
		return nil
	}
}

// TestGathererDamagedPartialAtHolder: a partial that fails its check as it is fetched, every
// try, is reported as damaged (its map task must run again) and never reduced; the output of
// the task's new attempt, named by a later Add, is fetched and the part is exact.
func TestGathererDamagedPartialAtHolder(t *testing.T) {
	bad := partialOf(t, "apple", "cherry")
	bad[len(bad)/2] ^= 0x01
	h := startHolder(t, map[[2]int][]byte{
		{0, 0}: bad,
		{0, 1}: partialOf(t, "apple", "cherry"),
		{1, 0}: partialOf(t, "banana"),
	})
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	layout := Layout{Dir: t.TempDir()}
	done := make(chan error, 4)
	damaged := make(chan error, 4)
	g := NewGatherer(layout, client, "reducer", zap.NewNop(), func(_ string, _ int, _ int64, err error, _ bool) { done <- err })
	g.Damaged = func(jobID string, p int, pt protocol.Partial, err error) {
		if pt.Task != 0 || pt.Attempt != 0 {
			err = fmt.Errorf("damage reported for task %d attempt %d, not 0/0: %v", pt.Task, pt.Attempt, err)
		}
		damaged <- err
	}
	defer g.Close()
	spec := job.Spec{Job: "sort", Reducers: 1}
	g.Add("jdmg", 0, spec, 2, []protocol.Partial{
		{Task: 0, Attempt: 0, Node: "holder", RPC: h.addr, Seq: 1},
		{Task: 1, Attempt: 0, Node: "holder", RPC: h.addr, Seq: 1},
	})
	err := waitErr(t, damaged, "report of the damaged partial")
	if !integrity.IsCorrupt(err) {
		t.Fatalf("reported %v, want damage", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the partition was reduced (%v) with a damaged partial", err)
	default:
	}
	g.Add("jdmg", 0, spec, 2, []protocol.Partial{{Task: 0, Attempt: 1, Node: "holder", RPC: h.addr, Seq: 2}})
	if err := waitErr(t, done, "reduce"); err != nil {
		t.Fatal(err)
	}
	if got, want := partKeys(t, layout.ResultPath("jdmg", 0)), []string{"apple", "banana", "cherry"}; !slices.Equal(got, want) {
		t.Fatalf("part holds %q, want %q", got, want)
	}
}

// TestGathererDamagedGatheredCopy: a gathered copy damaged on the reducer's own disk after it
// was fetched and checked is found when the partition is reduced; it is fetched again and the
// part is exact.
func TestGathererDamagedGatheredCopy(t *testing.T) {
	h := startHolder(t, map[[2]int][]byte{
		{0, 0}: partialOf(t, "apple", "cherry"),
		{1, 0}: partialOf(t, "banana"),
	})
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	layout := Layout{Dir: t.TempDir()}
	done := make(chan error, 4)
	g := NewGatherer(layout, client, "reducer", zap.NewNop(), func(_ string, _ int, _ int64, err error, _ bool) { done <- err })
	defer g.Close()
	spec := job.Spec{Job: "sort", Reducers: 1}
	g.Add("jcopy", 0, spec, 2, []protocol.Partial{{Task: 0, Attempt: 0, Node: "holder", RPC: h.addr, Seq: 1}})
	deadline := time.Now().Add(10 * time.Second)
	for !g.Has("jcopy", 0, 0) {
		if time.Now().After(deadline) {
			t.Fatal("task 0's partial was not gathered within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	path := layout.GatherPath("jcopy", 0, 0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	g.Add("jcopy", 0, spec, 2, []protocol.Partial{{Task: 1, Attempt: 0, Node: "holder", RPC: h.addr, Seq: 1}})
	if err := waitErr(t, done, "reduce"); err != nil {
		t.Fatal(err)
	}
	if got, want := partKeys(t, layout.ResultPath("jcopy", 0)), []string{"apple", "banana", "cherry"}; !slices.Equal(got, want) {
		t.Fatalf("part holds %q, want %q", got, want)
	}
	if n := h.fetchesOf(0, 0); n != 2 {
		t.Errorf("task 0's partial was fetched %d times, want 2 (once more after the damage)", n)
	}
}

// TestGathererPartialGoneFromHolder: a partial its live holder no longer has (it dropped it, or
// restarted) is reported like a damaged one, so that its map task runs again instead of the
// partition waiting forever.
func TestGathererPartialGoneFromHolder(t *testing.T) {
	h := startHolder(t, map[[2]int][]byte{})
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	damaged := make(chan error, 1)
	g := NewGatherer(Layout{Dir: t.TempDir()}, client, "reducer", zap.NewNop(), func(string, int, int64, error, bool) {})
	g.Damaged = func(_ string, _ int, _ protocol.Partial, err error) { damaged <- err }
	defer g.Close()
	g.Add("jgone", 0, job.Spec{Job: "sort", Reducers: 1}, 1, []protocol.Partial{{Task: 0, Node: "holder", RPC: h.addr, Seq: 1}})
	if err := waitErr(t, damaged, "report of the missing partial"); transport.CodeOf(err) != transport.CodeNotFound {
		t.Fatalf("reported %v, want not found", err)
	}
}

// TestGathererOwnDiskFull: a reducer whose own disk cannot keep a fetched partial (full) gives
// the partition up and reports the failure, so that it is reduced elsewhere; the holder is not
// blamed (its partial is fine, its map task does not run again). Seen in CI: each ENOSPC was
// reported as the holder's, and the map tasks ran again and again.
func TestGathererOwnDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the reducer's disk")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	keys := make([]string, 20000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key %06d", i)
	}
	h := startHolder(t, map[[2]int][]byte{{0, 0}: partialOf(t, keys...)}) // ~200 KB: does not fit
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()
	layout := Layout{Dir: dir}
	done := make(chan error, 1)
	damaged := make(chan error, 1)
	g := NewGatherer(layout, client, "reducer", zap.NewNop(), func(_ string, _ int, _ int64, err error, _ bool) { done <- err })
	g.Damaged = func(_ string, _ int, _ protocol.Partial, err error) { damaged <- err }
	defer g.Close()
	g.Add("jfull", 0, job.Spec{Job: "sort", Reducers: 1}, 1, []protocol.Partial{{Task: 0, Node: "holder", RPC: h.addr, Seq: 1}})
	err := waitErr(t, done, "the partition given up")
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("reported %v, want no space left on device", err)
	}
	select {
	case err := <-damaged:
		t.Fatalf("the holder was blamed for this node's full disk: %v", err)
	default:
	}
	if _, err := os.Stat(filepath.Dir(layout.GatherPath("jfull", 0, 0))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("what the partition gathered is still there: %v", err)
	}
}
