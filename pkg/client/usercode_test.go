package client_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// buildModule builds one of the repository's Go programs as a WASI module, as a user would:
// GOOS=wasip1 GOARCH=wasm go build.
func buildModule(t *testing.T, pkg string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH to build the WebAssembly examples")
	}
	root, err := proccluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := proccluster.BuildProgram(root, t.TempDir(), pkg, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runUser is run for a user job.
func runUser(t *testing.T, cl *client.Client, u client.UserJob, r int, paths []string) (*protocol.JobStatus, []byte) {
	t.Helper()
	return runSubmitted(t, cl, paths, func(ctx context.Context, in []client.Input) (*protocol.JobStatus, error) {
		return cl.SubmitUser(ctx, job.Spec{Reducers: r}, u, 0, in)
	})
}

func sortLines(b []byte) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	sort.Strings(lines)
	return []byte(strings.Join(lines, ""))
}

// TestUserWordcountWasm runs the SDK's word count, built as WebAssembly, in both modes, and
// compares its output (sorted: partitions are hash-partitioned) with the sequential reference;
// each node (with a module cache of its own) compiles the module once at most, and a third job
// with the same module compiles nothing on any node.
func TestUserWordcountWasm(t *testing.T) {
	wasm := buildModule(t, "./examples/wordcount")
	c := testcluster.StartWith(t, 3, func(o *daemon.Options) { o.ModuleCache = "" })
	paths := inputs(t)
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	u := client.UserJob{Mapper: wasm + " map", Reducer: wasm + " reduce", Combiner: wasm + " combine"}
	compiles := func() float64 {
		n := 0.0
		for _, nd := range c.Nodes {
			n += counterValue(t, nd.Base, "dlbp_module_compiles_total")
		}
		return n
	}
	for _, mode := range []string{"dlbp", "single"} {
		st, got := runUser(t, c.Client(mode), u, 3, paths)
		if st.State != protocol.StateSucceeded {
			t.Fatalf("mode %s: job %s: %s", mode, st.State, st.Error)
		}
		if !bytes.Equal(sortLines(got), sortLines(want.Bytes())) {
			firstDiff(t, sortLines(got), sortLines(want.Bytes()))
		}
		if st.Stream == nil || st.Stream.Mapper.String() != wasm+" map" {
			t.Errorf("mode %s: status shows the job as %q, %+v", mode, st.Job, st.Stream)
		}
	}
	// The module went to each maplb once: the later jobs sent none of it again.
	blobBytes := counterWith(t, c.MapLB.Base, "dlbp_bytes_total", "direction", "in", "what", "blob")
	if info, err := os.Stat(wasm); err != nil || blobBytes != float64(info.Size()) {
		t.Errorf("maplb received %v bytes of modules, want the module's %v once", blobBytes, info.Size())
	}
	before := compiles()
	if before < 1 || before > float64(len(c.Nodes)) {
		t.Errorf("%v compilations on %d nodes after two jobs with one module: want one per node at most", before, len(c.Nodes))
	}
	st, _ := runUser(t, c.Client("dlbp"), u, 2, paths)
	if st.State != protocol.StateSucceeded {
		t.Fatalf("third job: %s: %s", st.State, st.Error)
	}
	if after := compiles(); after != before {
		t.Errorf("the third job with the same module compiled it again: %v compilations, %v before", after, before)
	}
	if again := counterWith(t, c.MapLB.Base, "dlbp_bytes_total", "direction", "in", "what", "blob"); again != blobBytes {
		t.Errorf("the third job uploaded the module again: %v bytes of modules, %v before", again, blobBytes)
	}
}

// TestUserJobRefusedAtSubmit: a module that is not WebAssembly, and native programs on a
// cluster where no node allows them, are refused before any input is uploaded.
func TestUserJobRefusedAtSubmit(t *testing.T) {
	c := testcluster.Start(t, 2)
	paths := inputs(t)[:1]
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := client.FileInputs(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client("dlbp")
	for _, tc := range []struct {
		u    client.UserJob
		want string
	}{
		{client.UserJob{Mapper: bad + " map", Reducer: bad + " reduce"}, "bad.wasm"},
		{client.UserJob{Mapper: "cat", Reducer: "cat"}, "no live node allows them"},
	} {
		_, err := cl.SubmitUser(ctx, job.Spec{Reducers: 1}, tc.u, 0, in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %q", tc.u, err, tc.want)
		}
	}
	jobs, err := cl.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("refused jobs were kept: %+v", jobs)
	}
}

// counterValue reads a counter from a daemon's metrics registry, summed over its labels.
func counterValue(t *testing.T, b *daemon.Base, name string) float64 {
	t.Helper()
	return counterWith(t, b, name)
}

// counterWith is counterValue over the series that have every label=value of labels (given as
// pairs); a series never written reads as 0.
func counterWith(t *testing.T, b *daemon.Base, name string, labels ...string) float64 {
	t.Helper()
	families, err := b.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// prefixFile writes the first n bytes (cut after a line) of the files at paths, one after the
// other, to a new file.
func prefixFile(t *testing.T, paths []string, n int) string {
	t.Helper()
	var data []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	if len(data) > n {
		data = data[:n]
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	out := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserFlakyMapper: a mapper that fails a third of its runs, after writing part of its
// output, with --max-attempts 20 on 3 nodes: the 50-task job is still exact, its failed
// attempts say why (exit status and standard error), and the failures paused no node.
func TestUserFlakyMapper(t *testing.T) {
	flaky := buildModule(t, "./internal/testprogs/flaky")
	wc := buildModule(t, "./examples/wordcount")
	c := testcluster.Start(t, 3)
	input := prefixFile(t, inputs(t), 50*8<<10)
	var want bytes.Buffer
	if err := reference.WordCount([]string{input}, &want); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := client.FileInputs([]string{input}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client("dlbp")
	u := client.UserJob{Mapper: flaky + " map", Reducer: wc + " reduce", MaxAttempts: 20}
	st, err := cl.SubmitUser(ctx, job.Spec{Reducers: 2}, u, 8<<10, in)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		dumpStatus(t, cl, st.ID)
		t.Fatalf("job %v: %v", st.State, err)
	}
	if len(st.Maps) < 45 {
		t.Fatalf("%d map tasks, want about 50", len(st.Maps))
	}
	var out bytes.Buffer
	if err := cl.WriteResult(ctx, st, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sortLines(out.Bytes()), sortLines(want.Bytes())) {
		firstDiff(t, sortLines(out.Bytes()), sortLines(want.Bytes()))
	}
	failed, explained := 0, 0
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			if a.State == "failed" {
				failed++
				if strings.Contains(a.Reason, "exit status 1") && strings.Contains(a.Reason, "failing on purpose") {
					explained++
				}
			}
		}
	}
	t.Logf("%d map tasks, %d failed attempts", len(st.Maps), failed)
	if failed == 0 || explained != failed {
		t.Fatalf("%d failed attempts, %d of them with the exit status and standard error", failed, explained)
	}
	if n := counterValue(t, c.MapLB.Base, "dlbp_node_pauses_total"); n != 0 {
		t.Errorf("maplb paused nodes %v times for a user program's failures", n)
	}
}

// TestUserGarbageOutput: a mapper writing bytes that are not UTF-8, NULs, lines without a tab
// and a last line without '\n' is data like any other: the job succeeds with exactly those
// records, sorted by key, in both modes.
func TestUserGarbageOutput(t *testing.T) {
	g := buildModule(t, "./internal/testprogs/garbage")
	c := testcluster.Start(t, 2)
	paths := inputs(t)[:2]
	const out = "\xff\xfe\x00key\tvalue\x00\nno tab here\n\tempty key\nk\tv\twith\ttabs\n\n\x80\x81\tlast line without newline"
	var records []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "\t") {
			line += "\t" // the reducer's input always has the tab
		}
		records = append(records, line+"\n")
	}
	for _, mode := range []string{"dlbp", "single"} {
		st, got := runUser(t, c.Client(mode), client.UserJob{Mapper: g, Reducer: g + " cat"}, 1, paths)
		if st.State != protocol.StateSucceeded {
			t.Fatalf("mode %s: %s: %s", mode, st.State, st.Error)
		}
		var want []string
		for range st.Maps {
			want = append(want, records...)
		}
		sort.Strings(want) // one partition: the reducer reads every record sorted by key
		// Equal keys may come in any order; compare as sorted lines.
		if string(sortLines(got)) != strings.Join(want, "") {
			firstDiff(t, sortLines(got), []byte(strings.Join(want, "")))
		}
	}
}
