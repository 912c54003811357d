package client_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// kind is one sort of job the concurrency test submits, with its
// sequential reference.
type kind struct {
	spec func(r int) job.Spec
	want func(paths []string, w *bytes.Buffer) error
	ints bool // takes the integer files
}

var kinds = []kind{
	{spec: func(r int) job.Spec { return job.Spec{Job: "wordcount", Reducers: r} },
		want: func(p []string, w *bytes.Buffer) error { return reference.WordCount(p, w) }},
	{spec: func(r int) job.Spec { return job.Spec{Job: "sum", Reducers: r} }, ints: true,
		want: func(p []string, w *bytes.Buffer) error { return reference.Sum(p, w) }},
	{spec: func(r int) job.Spec {
		return job.Spec{Job: "sum", Reducers: r, Params: map[string]string{"range": "-5..123456789"}}
	},
		want: func(_ []string, w *bytes.Buffer) error { return reference.SumRange("-5", "123456789", w) }},
}

func init() {
	for _, tj := range textJobs[1:] { // wordcount is already there
		kinds = append(kinds, kind{
			spec: func(r int) job.Spec { return job.Spec{Job: tj.name, Reducers: r, Params: tj.params} },
			want: tj.want,
		})
	}
}

// TestConcurrentClients has 8 clients submit 10 jobs each, of mixed kinds,
// to both load balancers at once; every result must be exact.
func TestConcurrentClients(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DLBP_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (DLBP_SEED=%d reproduces the mix)", seed, seed)
	c := testcluster.Start(t, 3)
	dir := t.TempDir()
	var texts, ints []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("text%d.txt", i))
		q := filepath.Join(dir, fmt.Sprintf("ints%d.txt", i))
		writeWith(t, p, func(f *os.File) error { return corpus.Generate(f, 300<<10, int64(i)) })
		writeWith(t, q, func(f *os.File) error { return corpus.Integers(f, 5000, int64(i)) })
		texts, ints = append(texts, p), append(ints, q)
	}
	const clients, jobsEach = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients*jobsEach)
	for ci := 0; ci < clients; ci++ {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(ci)))
		mode := []string{"dlbp", "single"}[ci%2]
		cl := c.Client(mode)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < jobsEach; k++ {
				kd := kinds[rng.IntN(len(kinds))]
				spec := kd.spec(1 + rng.IntN(3))
				paths := texts[:1+rng.IntN(len(texts))]
				if kd.ints {
					paths = ints[:1+rng.IntN(len(ints))]
				}
				if _, gen := spec.Params["range"]; gen {
					paths = nil
				}
				if err := checkJob(cl, kd, spec, paths); err != nil {
					errs <- fmt.Errorf("client %d (%s) job %d %s R=%d: %w", ci, mode, k, spec.Job, spec.Reducers, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func writeWith(t *testing.T, path string, fill func(*os.File) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fill(f); err != nil {
		t.Fatal(err)
	}
}

func checkJob(cl *client.Client, kd kind, spec job.Spec, paths []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := client.FileInputs(paths, nil)
	if err != nil {
		return err
	}
	st, err := cl.Submit(ctx, spec, 16<<10, in)
	if err != nil {
		return err
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil {
		return err
	}
	if st.State != protocol.StateSucceeded {
		return fmt.Errorf("job %s %s: %s", st.ID, st.State, st.Error)
	}
	var got, want bytes.Buffer
	if err := cl.WriteResult(ctx, st, &got); err != nil {
		return err
	}
	if err := kd.want(paths, &want); err != nil {
		return err
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		return fmt.Errorf("job %s: output differs from the reference (%d bytes, want %d)", st.ID, got.Len(), want.Len())
	}
	return nil
}
