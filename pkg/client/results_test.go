package client_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/maplb"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestSmallResultKeptByTheLoadBalancers: a part no larger than
// protocol.InlineMax travels with its reducer's report and maplb keeps it
// with the job's record. Such a result is read whole from the status, and
// stays readable, exact, once every node is gone and maplb has restarted.
func TestSmallResultKeptByTheLoadBalancers(t *testing.T) {
	c := testcluster.Start(t, 2)
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := cl.Submit(ctx, job.Spec{Job: "sum", Reducers: 2, Params: map[string]string{"range": "-5..123456789"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("wait: %v, %+v", err, st)
	}
	var want bytes.Buffer
	if err := reference.SumRange("-5", "123456789", &want); err != nil {
		t.Fatal(err)
	}
	if len(st.Parts) != 2 {
		t.Fatalf("parts %+v, want 2", st.Parts)
	}
	for _, p := range st.Parts {
		if !p.Inline || int64(len(p.Data)) != p.Size {
			t.Fatalf("part %d (%d bytes) is not kept inline: %+v", p.Partition, p.Size, p)
		}
	}
	for _, n := range c.Nodes {
		n.Close()
	}
	c.Nodes = nil
	c.RestartMapLB()
	cl = c.Client("dlbp")
	if st, err = cl.Status(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	// Read through maplb (a part's read, not the status) and from the status.
	for _, fetch := range []string{client.FetchLB, client.FetchDirect} {
		cl.Fetch = fetch
		lbOnly := *st
		if fetch == client.FetchLB {
			lbOnly.Parts = nil // no locations: every part is read through maplb
		}
		var got bytes.Buffer
		if err := cl.WriteResult(ctx, &lbOnly, &got); err != nil {
			t.Fatalf("fetch %s, with no node left and maplb restarted: %v", fetch, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("fetch %s: result %q, want %q", fetch, got.Bytes(), want.Bytes())
		}
	}
}

// TestResultFetchedFromTheNodes: a result too large to keep inline is read
// from the nodes that hold its parts (client.FetchDirect, the default), so
// it does not cross maplb, or through maplb (client.FetchLB). Both are
// exact; maplb's count of result bytes served tells which way they went.
func TestResultFetchedFromTheNodes(t *testing.T) {
	paths := inputs(t)
	var want bytes.Buffer
	if err := reference.Sort(paths, &want); err != nil {
		t.Fatal(err)
	}
	c := testcluster.Start(t, 2)
	cl := c.Client("dlbp")
	st, _ := run(t, cl, job.Spec{Job: "sort", Reducers: 2}, 0, paths)
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	var partBytes int64 // the parts' files hold records, not the output's lines
	for _, p := range st.Parts {
		partBytes += p.Size
		if p.Inline || p.Size <= protocol.InlineMax {
			t.Fatalf("part %d of %d bytes: want parts larger than %d, not inline", p.Partition, p.Size, protocol.InlineMax)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		fetch     string
		throughLB bool
	}{{client.FetchDirect, false}, {client.FetchLB, true}, {"", false}} {
		cl.Fetch = tc.fetch
		before := resultBytesServed(t, c.MapLB)
		var got bytes.Buffer
		if err := cl.WriteResult(ctx, st, &got); err != nil {
			t.Fatalf("fetch %q: %v", tc.fetch, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			firstDiff(t, got.Bytes(), want.Bytes())
		}
		served := resultBytesServed(t, c.MapLB) - before
		if tc.throughLB && served != float64(partBytes) {
			t.Errorf("fetch %q: maplb served %.0f bytes of parts of %d bytes, want all", tc.fetch, served, partBytes)
		}
		if !tc.throughLB && served != 0 {
			t.Errorf("fetch %q: maplb served %.0f bytes of the result, want none", tc.fetch, served)
		}
	}
}

// resultBytesServed is maplb's dlbp_bytes_total{direction="out",what="result"}.
func resultBytesServed(t *testing.T, m *maplb.MapLB) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Metrics.Bytes.WithLabelValues("out", "result").Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

// TestNoJobLeftAtReduceLB runs small jobs one after another (each done in a few milliseconds,
// so its forget follows its registration, which maplb sends without waiting, closely) and
// checks that reducelb forgets every one (dlbp_reducelb_jobs). It does not force the race
// maplb guards against (a registration arriving after the forget would keep the job there for
// good); it checks that nothing of the sort, or of late reports, is left.
func TestNoJobLeftAtReduceLB(t *testing.T) {
	c := testcluster.Start(t, 2)
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var want bytes.Buffer
	if err := reference.SumRange("1", "1000", &want); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		st, err := cl.Submit(ctx, job.Spec{Job: "sum", Reducers: 1 + i%2, Params: map[string]string{"range": "1..1000"}}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
			t.Fatalf("job %d: %v, %+v", i, err, st)
		}
		var got bytes.Buffer
		if err := cl.WriteResult(ctx, st, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("job %d: %q, want %q", i, got.Bytes(), want.Bytes())
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "reducelb to forget every job", func() bool {
		return gauge(t, c.ReduceLB.Metrics.Registry, "dlbp_reducelb_jobs") == 0
	})
}

// gauge reads an unlabelled gauge from a registry.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
