package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
)

// Contract timings the test asserts (the binaries use memberlist's default LAN timings).
const (
	joinWithin = 5 * time.Second  // a started node is listed alive
	goneWithin = 10 * time.Second // a kill -9'd node is no longer listed
)

// modes names the two maplbs of the test cluster; both share the same nodes.
var modes = []string{"dlbp", "single"}

// testCluster is one maplb in mode dlbp, one reducelb, three nodes with 2 slots each, and a
// second maplb in mode single joined to the same gossip cluster.
type testCluster struct {
	*proccluster.Cluster
	lb    map[string]string // mode → maplb RPC address
	nodes []*proccluster.Proc
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{Cluster: newCluster(t), lb: map[string]string{}}
	first := c.Start(t, "maplb", "maplb", "--http", "127.0.0.1:0", "--module-cache", moduleCache())
	join := first.WaitServing(t).Gossip
	// Everything else joins the first maplb; start them all, then wait for each.
	rest := []*proccluster.Proc{
		c.Start(t, "reducelb", "reducelb", "--join", join),
		c.Start(t, "maplb", "maplb-single", "--http", "127.0.0.1:0", "--mode", "single", "--join", join, "--allow-exec", "--module-cache", moduleCache()),
	}
	for i := 1; i <= 3; i++ {
		n := c.Start(t, "node", fmt.Sprintf("node%d", i), "--join", join, "--slots", "2", "--allow-exec", "--module-cache", moduleCache())
		c.nodes = append(c.nodes, n)
		rest = append(rest, n)
	}
	for _, p := range rest {
		p.WaitServing(t)
	}
	c.lb["dlbp"], c.lb["single"] = first.Addrs().RPC, rest[1].Addrs().RPC
	return c
}

// TestCluster runs every check against one cluster, in order; the node failure comes last.
func TestCluster(t *testing.T) {
	t.Logf("text inputs: %s", textsKind)
	c := startCluster(t)

	t.Run("nodes_alive", func(t *testing.T) { c.checkNodesAlive(t) })
	t.Run("wordcount", func(t *testing.T) { c.checkWordcount(t) })
	t.Run("wordcount_output_dir", func(t *testing.T) { c.checkOutputDir(t) })
	t.Run("sum", func(t *testing.T) { c.checkSum(t) })
	t.Run("status", func(t *testing.T) { c.checkStatus(t) })
	t.Run("client_errors", func(t *testing.T) { c.checkClientErrors(t) })
	t.Run("indexer", func(t *testing.T) { c.checkIndexer(t) })
	t.Run("grep", func(t *testing.T) { c.checkGrep(t) })
	t.Run("sort", func(t *testing.T) { c.checkSort(t) })
	t.Run("stdin", func(t *testing.T) { c.checkStdin(t) })
	t.Run("progress_terminal", func(t *testing.T) { c.checkProgressTerminal(t) })
	t.Run("output_dir_again", func(t *testing.T) { c.checkOutputDirAgain(t) })
	t.Run("user_jobs", func(t *testing.T) { c.checkUserJobs(t) })
	t.Run("node_failure", func(t *testing.T) { c.checkNodeFailure(t) })
}

// members runs `dlbp nodes --json` against lb; the string explains a failure.
func members(t *testing.T, lb string) ([]proccluster.Member, string) {
	t.Helper()
	r := dlbp(t, "nodes", "--lb", lb, "--json")
	if r.Code != 0 {
		return nil, r.String()
	}
	var ns []proccluster.Member
	if err := json.Unmarshal(r.Stdout, &ns); err != nil {
		return nil, fmt.Sprintf("parsing `dlbp nodes --json`: %v\n%s", err, r.Stdout)
	}
	return ns, ""
}

func (c *testCluster) checkNodesAlive(t *testing.T) {
	lastStart := c.nodes[len(c.nodes)-1].Started()
	for _, mode := range modes {
		waitUntil(t, joinWithin-time.Since(lastStart), "3 nodes listed alive by the "+mode+" maplb", func() (bool, string) {
			ns, why := members(t, c.lb[mode])
			if ns == nil {
				return false, why
			}
			alive := map[string]bool{}
			for _, n := range ns {
				if n.Role == "node" && n.State == "alive" && n.Slots == 2 {
					alive[n.Name] = true
				}
			}
			for _, p := range c.nodes {
				if !alive[p.Name] {
					return false, fmt.Sprintf("%s missing: %+v", p.Name, ns)
				}
			}
			return true, ""
		})
		t.Logf("mode %s: all nodes listed alive %v after their start", mode, time.Since(lastStart).Round(time.Millisecond))
	}
	// Not part of the 5 s contract, but the dlbp-mode checks need the reducelb known.
	waitUntil(t, 10*time.Second, "reducelb listed alive", func() (bool, string) {
		ns, why := members(t, c.lb["dlbp"])
		for _, n := range ns {
			if n.Role == "reducelb" && n.State == "alive" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v %s", ns, why)
	})
}

// wordcount submits a wordcount of the texts and checks stdout against the reference.
func (c *testCluster) wordcount(t *testing.T, mode string, reducers int) {
	t.Helper()
	args := append([]string{"submit", "--lb", c.lb[mode], "--job", "wordcount", "--reducers", strconv.Itoa(reducers), "--quiet"}, texts...)
	r := mustDLBP(t, args...)
	sameOutput(t, fmt.Sprintf("wordcount mode %s R=%d", mode, reducers), r.Stdout, wantWords)
}

func (c *testCluster) checkWordcount(t *testing.T) {
	for _, mode := range modes {
		for _, reducers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/R=%d", mode, reducers), func(t *testing.T) { c.wordcount(t, mode, reducers) })
		}
	}
}

func (c *testCluster) checkOutputDir(t *testing.T) {
	for _, reducers := range []int{1, 3} {
		t.Run(fmt.Sprintf("R=%d", reducers), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			args := append([]string{"submit", "--lb", c.lb["dlbp"], "--job", "wordcount", "--reducers", strconv.Itoa(reducers),
				"--quiet", "--output", dir}, texts...)
			if r := mustDLBP(t, args...); len(r.Stdout) != 0 {
				t.Errorf("--output %s also printed %d bytes on stdout", dir, len(r.Stdout))
			}
			parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(parts)
			if len(parts) != reducers {
				t.Errorf("%d part files, want %d: %q", len(parts), reducers, parts)
			}
			if st, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
				t.Errorf("_SUCCESS: %v", err)
			} else if st.Size() != 0 {
				t.Errorf("_SUCCESS has %d bytes, want an empty file", st.Size())
			}
			var cat bytes.Buffer
			for _, p := range parts {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.IsSorted(lines(string(data))) {
					t.Errorf("%s is not sorted by key", p)
				}
				cat.Write(data)
			}
			if reducers == 1 {
				sameOutput(t, "cat DIR/part-*", cat.Bytes(), wantWords)
				return
			}
			// Wordcount partitions by hash (DESIGN.md: only sort is range-partitioned), so
			// the parts, each sorted, hold the reference's lines between them. A word is
			// letters only, and ' ' sorts before every letter: sorting lines sorts by word.
			all := lines(cat.String())
			slices.Sort(all)
			sameOutput(t, "sorted lines of cat DIR/part-*", []byte(strings.Join(all, "")), wantWords)
		})
	}
}

func (c *testCluster) checkSum(t *testing.T) {
	var want bytes.Buffer
	if err := reference.SumRange("1", "100000000", &want); err != nil {
		t.Fatal(err)
	}
	if want.String() != "5000000050000000\n" {
		t.Fatalf("reference.SumRange(1, 100000000) = %q", want.String())
	}
	dir := t.TempDir()
	ints := filepath.Join(dir, "integers.txt")
	if err := writeFile(ints, func(f *os.File) error { return corpus.Integers(f, 50000, 7) }); err != nil {
		t.Fatal(err)
	}
	var wantInts bytes.Buffer
	if err := reference.Sum([]string{ints}, &wantInts); err != nil {
		t.Fatal(err)
	}
	if v, ok := new(big.Int).SetString(strings.TrimSpace(wantInts.String()), 10); !ok || v.IsInt64() {
		t.Fatalf("the integers' total %q should need more than 64 bits", wantInts.String())
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("1\n12x\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, mode := range modes {
		lb := c.lb[mode]
		t.Run(mode+"/range", func(t *testing.T) {
			r := mustDLBP(t, "submit", "--lb", lb, "--job", "sum", "--param", "range=1..100000000", "--quiet")
			sameOutput(t, "sum range=1..100000000", r.Stdout, want.Bytes())
		})
		t.Run(mode+"/integers", func(t *testing.T) {
			r := mustDLBP(t, "submit", "--lb", lb, "--job", "sum", "--reducers", "2", "--quiet", ints)
			sameOutput(t, "sum of integers", r.Stdout, wantInts.Bytes())
		})
		t.Run(mode+"/bad_record", func(t *testing.T) {
			r := dlbp(t, "submit", "--lb", lb, "--job", "sum", "--quiet", bad)
			if r.Code != 1 {
				t.Errorf("exit %d, want 1 (job failed); stdout %q; %v", r.Code, r.Stdout, r)
			}
			for _, s := range []string{bad + ":2", "12x"} {
				if !strings.Contains(string(r.Stderr), s) {
					t.Errorf("stderr does not name %q: %q", s, r.Stderr)
				}
			}
		})
		t.Run(mode+"/wordcount_after_failure", func(t *testing.T) { c.wordcount(t, mode, 2) })
	}
}

// statusJSON is the part of `dlbp status --json` the test reads.
type statusJSON = proccluster.Status

// detachedWordcount submits a wordcount with --detach, checks `dlbp wait`'s output against
// the reference, and returns the job's `dlbp status --json`.
func (c *testCluster) detachedWordcount(t *testing.T, mode string, reducers int) statusJSON {
	t.Helper()
	lb := c.lb[mode]
	args := append([]string{"submit", "--lb", lb, "--job", "wordcount", "--reducers", strconv.Itoa(reducers), "--detach"}, texts...)
	id := strings.TrimSpace(string(mustDLBP(t, args...).Stdout))
	if id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("submit --detach printed %q, want one job id", id)
	}
	r := mustDLBP(t, "wait", id, "--lb", lb, "--quiet")
	sameOutput(t, "dlbp wait "+id, r.Stdout, wantWords)
	r = mustDLBP(t, "status", id, "--lb", lb, "--json")
	var st statusJSON
	if err := json.Unmarshal(r.Stdout, &st); err != nil {
		t.Fatalf("parsing `dlbp status %s --json`: %v\n%s", id, err, r.Stdout)
	}
	if st.ID != id || st.Job != "wordcount" || st.State != "succeeded" {
		t.Errorf("status: id %q job %q state %q (error %q), want %q wordcount succeeded", st.ID, st.Job, st.State, st.Error, id)
	}
	if len(st.Maps) == 0 {
		t.Errorf("status lists no map tasks:\n%s", r.Stdout)
	}
	return st
}

func parseTime(t *testing.T, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return tm
}

func (c *testCluster) checkStatus(t *testing.T) {
	t.Run("dlbp", func(t *testing.T) {
		const reducers = 3
		st := c.detachedWordcount(t, "dlbp", reducers)
		nodes := map[string]bool{}
		var firstEnd time.Time
		for _, m := range st.Maps {
			for k, a := range m.Attempts {
				nodes[a.Node] = true
				parseTime(t, fmt.Sprintf("map %d attempt %d start", m.Task, k), a.Start)
				if a.End == "" {
					continue
				}
				end := parseTime(t, fmt.Sprintf("map %d attempt %d end", m.Task, k), a.End)
				if firstEnd.IsZero() || end.Before(firstEnd) {
					firstEnd = end
				}
			}
		}
		if len(nodes) < 2 {
			t.Errorf("map attempts ran on %d distinct nodes %v, want at least 2 (%d map tasks)", len(nodes), keys(nodes), len(st.Maps))
		}
		if firstEnd.IsZero() {
			t.Fatal("no map attempt has an end time")
		}
		partitions := map[int]bool{}
		for _, p := range st.Reducers {
			partitions[p.Partition] = true
			picked := parseTime(t, fmt.Sprintf("reducer of partition %d picked", p.Partition), p.Picked)
			if !picked.After(firstEnd) {
				t.Errorf("partition %d: reducer %s picked at %s, not after the first map end %s (the pick must be lazy)",
					p.Partition, p.Node, p.Picked, firstEnd.Format(time.RFC3339Nano))
			}
		}
		t.Logf("%d map tasks on nodes %v, first map end %s; reducers %+v", len(st.Maps), keys(nodes), firstEnd.Format(time.RFC3339Nano), st.Reducers)
		if len(partitions) != reducers {
			t.Errorf("reducers cover partitions %v, want all %d", keys(partitions), reducers)
		}
	})
	t.Run("single", func(t *testing.T) { c.detachedWordcount(t, "single", 2) })
}

func keys[K comparable](m map[K]bool) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (c *testCluster) checkClientErrors(t *testing.T) {
	lb := c.lb["dlbp"]
	t.Run("unreachable", func(t *testing.T) {
		r := dlbp(t, append([]string{"submit", "--lb", "127.0.0.1:1", "--job", "wordcount", "--quiet"}, texts[0])...)
		if r.Code != 3 {
			t.Errorf("exit %d, want 3; %v", r.Code, r)
		}
	})
	t.Run("unknown_job", func(t *testing.T) {
		r := dlbp(t, "submit", "--lb", lb, "--job", "nosuchjob", "--quiet", texts[0])
		if r.Code != 2 {
			t.Errorf("exit %d, want 2; %v", r.Code, r)
		}
	})
	t.Run("bad_fetch", func(t *testing.T) {
		for _, cmd := range [][]string{{"submit", "--job", "wordcount", texts[0]}, {"wait", "jnosuchjob"}} {
			r := dlbp(t, append(cmd, "--lb", lb, "--quiet", "--fetch", "nodes")...)
			if r.Code != 2 || !strings.Contains(string(r.Stderr), "--fetch nodes: want direct or lb") {
				t.Errorf("dlbp %s --fetch nodes: exit %d, want 2 and the reason; %v", cmd[0], r.Code, r)
			}
		}
	})
	t.Run("missing_input", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-such-file.txt")
		r := dlbp(t, "submit", "--lb", lb, "--job", "wordcount", "--quiet", texts[0], missing)
		if r.Code != 2 {
			t.Errorf("exit %d, want 2; %v", r.Code, r)
		}
		if !strings.Contains(string(r.Stderr), missing) {
			t.Errorf("stderr does not name %s: %q", missing, r.Stderr)
		}
	})
}

func (c *testCluster) checkNodeFailure(t *testing.T) {
	victim := c.nodes[len(c.nodes)-1]
	c.Kill9(t, victim.Name)
	killed := time.Now()
	for _, mode := range modes {
		waitUntil(t, goneWithin-time.Since(killed), victim.Name+" gone from the "+mode+" maplb's `dlbp nodes`", func() (bool, string) {
			ns, why := members(t, c.lb[mode])
			if ns == nil {
				return false, why
			}
			for _, n := range ns {
				if n.Name == victim.Name {
					return false, fmt.Sprintf("%+v", n)
				}
			}
			return true, ""
		})
		t.Logf("%s gone from the %s maplb's list %v after kill -9", victim.Name, mode, time.Since(killed).Round(time.Millisecond))
	}
	t.Run("dlbp/R=3", func(t *testing.T) { c.wordcount(t, "dlbp", 3) })
	t.Run("single/R=1", func(t *testing.T) { c.wordcount(t, "single", 1) })
}
