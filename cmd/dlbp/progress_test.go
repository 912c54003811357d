package main

import (
	"bytes"
	"testing"

	"github.com/dlbp/dlbp/pkg/protocol"
)

func TestProgressPlainLinesAndQuiet(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	for _, st := range []protocol.JobStatus{
		{ID: "j1", State: "running", MapsTotal: 4, Partitions: 2},
		{ID: "j1", State: "running", MapsTotal: 4, Partitions: 2},
		{ID: "j1", State: "running", MapsDone: 4, MapsTotal: 4, Partitions: 2},
		{ID: "j1", State: "running", MapsDone: 4, MapsTotal: 4, Partitions: 2, Waiting: "no reducelb in the cluster (mode dlbp needs one)"},
		{ID: "j1", State: "succeeded", MapsDone: 4, MapsTotal: 4, ReducesDone: 2, Partitions: 2},
	} {
		p.update(&st)
	}
	p.done()
	want := "dlbp: job j1 running: maps 0/4, reduces 0/2\n" +
		"dlbp: job j1 running: maps 4/4, reduces 0/2\n" +
		"dlbp: job j1 running: maps 4/4, reduces 0/2; waiting: no reducelb in the cluster (mode dlbp needs one)\n" +
		"dlbp: job j1 succeeded: maps 4/4, reduces 2/2\n"
	if buf.String() != want {
		t.Fatalf("progress lines:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	q := newProgress(&buf, true)
	q.update(&protocol.JobStatus{ID: "j1", State: "running"})
	q.done()
	if buf.Len() != 0 {
		t.Fatalf("quiet printed %q", buf.String())
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
