// Command smalljobs is the small-job load generator of scripts/bench.sh. It submits the job
// `sum --param range=A..B` (no input, one reducer) to a maplb and measures either the latency
// of sequential submissions (p50, p99) or the jobs per second that concurrent clients get,
// each submitting in a loop for a fixed time. Every result is checked against the sequential
// reference (internal/reference.SumRange).
//
// It drives the cluster either through the pkg/client library (-via lib: Submit, Wait,
// WriteResult) or by running the dlbp command once per job (-via exec: what a user at a shell
// sees, process start-up included).
//
//	smalljobs -lb 127.0.0.1:7070 -n 200                        # latency, via the library
//	smalljobs -lb 127.0.0.1:7070 -clients 16 -duration 10s     # throughput
//	smalljobs -lb 127.0.0.1:7070 -via exec -dlbp bin/dlbp -n 200
//
// It prints one line of KEY=VALUE fields for scripts to read.
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

func main() {
	lb := flag.String("lb", "127.0.0.1:7070", "maplb RPC address")
	via := flag.String("via", "lib", "lib: the pkg/client library; exec: one `dlbp submit` process per job")
	dlbp := flag.String("dlbp", "dlbp", "the dlbp binary (-via exec)")
	n := flag.Int("n", 200, "latency: sequential submissions (when -clients is 0)")
	warmup := flag.Int("warmup", 5, "submissions before measuring")
	clients := flag.Int("clients", 0, "throughput: concurrent clients (0: measure latency instead)")
	duration := flag.Duration("duration", 10*time.Second, "throughput: how long clients keep submitting")
	sumRange := flag.String("range", "1..1000", "the sum job's range A..B")
	flag.Parse()

	a, b, ok := strings.Cut(*sumRange, "..")
	if !ok {
		fail(fmt.Errorf("-range %q: want A..B", *sumRange))
	}
	var want bytes.Buffer
	if err := reference.SumRange(a, b, &want); err != nil {
		fail(err)
	}
	var submit func(ctx context.Context) error
	switch *via {
	case "lib":
		cl := client.New(*lb, nil)
		defer cl.Close()
		spec := job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": *sumRange}}
		submit = func(ctx context.Context) error {
			t0 := time.Now()
			st, err := cl.Submit(ctx, spec, 0, nil)
			if err != nil {
				return err
			}
			t1 := time.Now()
			if st, err = cl.Wait(ctx, st.ID, nil); err != nil {
				return err
			}
			if st.State != protocol.StateSucceeded {
				return fmt.Errorf("job %s %s: %s", st.ID, st.State, st.Error)
			}
			t2 := time.Now()
			var got bytes.Buffer
			if err := cl.WriteResult(ctx, st, &got); err != nil {
				return err
			}
			phases.add(t1.Sub(t0), t2.Sub(t1), time.Since(t2))
			return check(got.Bytes(), want.Bytes())
		}
	case "exec":
		submit = func(ctx context.Context) error {
			cmd := exec.CommandContext(ctx, *dlbp, "submit", "--lb", *lb, "--job", "sum", "--param", "range="+*sumRange, "--quiet")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("dlbp submit: %w: %s", err, strings.TrimSpace(stderr.String()))
			}
			return check(got, want.Bytes())
		}
	default:
		fail(fmt.Errorf("-via %q: want lib or exec", *via))
	}

	ctx := context.Background()
	for range *warmup {
		if err := submit(ctx); err != nil {
			fail(fmt.Errorf("warm-up: %w", err))
		}
	}
	phases = phaseTimes{}
	if *clients > 0 {
		throughput(ctx, submit, *clients, *duration)
	} else {
		latency(ctx, submit, *n)
	}
}

func check(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("result %q, want %q", got, want)
	}
	return nil
}

// latency runs n submissions one after another and prints their percentiles.
func latency(ctx context.Context, submit func(context.Context) error, n int) {
	took := make([]time.Duration, 0, n)
	errs := 0
	var firstErr error
	t0 := time.Now()
	for range n {
		t := time.Now()
		if err := submit(ctx); err != nil {
			errs++
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		took = append(took, time.Since(t))
	}
	elapsed := time.Since(t0)
	slices.Sort(took)
	fmt.Printf("n=%d errors=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f jobs_per_s=%.1f%s%s\n", n, errs,
		ms(percentile(took, 50)), ms(percentile(took, 99)), ms(percentile(took, 100)),
		float64(len(took))/elapsed.Seconds(), phases.String(), errNote(firstErr))
}

// phaseTimes records how long each library job spent submitting (the job
// spec; sum has no input), waiting for the job to end, and reading its
// result.
type phaseTimes struct {
	mu                     sync.Mutex
	submit, wait, readBack []time.Duration
}

var phases phaseTimes

func (p *phaseTimes) add(submit, wait, readBack time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.submit, p.wait, p.readBack = append(p.submit, submit), append(p.wait, wait), append(p.readBack, readBack)
}

// String gives the medians of the phases, or "" when none was recorded
// (-via exec).
func (p *phaseTimes) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.submit) == 0 {
		return ""
	}
	med := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return ms(percentile(s, 50))
	}
	return fmt.Sprintf(" submit_p50_ms=%.2f wait_p50_ms=%.2f result_p50_ms=%.2f", med(p.submit), med(p.wait), med(p.readBack))
}

// throughput runs clients loops that each submit until the time is up and prints the jobs
// finished per second (over the time until the last one finished).
func throughput(ctx context.Context, submit func(context.Context) error, clients int, d time.Duration) {
	var mu sync.Mutex
	done, errs := 0, 0
	var firstErr error
	var took []time.Duration
	t0 := time.Now()
	deadline := t0.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				err := submit(ctx)
				mu.Lock()
				if err != nil {
					errs++
					firstErr = cmp.Or(firstErr, err)
				} else {
					done++
					took = append(took, time.Since(t))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	slices.Sort(took)
	fmt.Printf("clients=%d seconds=%.1f jobs=%d errors=%d jobs_per_s=%.1f p50_ms=%.1f p99_ms=%.1f%s\n", clients,
		elapsed.Seconds(), done, errs, float64(done)/elapsed.Seconds(),
		ms(percentile(took, 50)), ms(percentile(took, 99)), errNote(firstErr))
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func errNote(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" first_error=%q", err.Error())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "smalljobs:", err)
	os.Exit(1)
}
