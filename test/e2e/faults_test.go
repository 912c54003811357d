package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
)

// The fault tests (DESIGN.md, "Failure model and guarantees") each start their own cluster
// with every daemon on fixed ports, so that a daemon can be restarted at its addresses, run a
// job big enough that the fault lands while it runs (timed by polling `dlbp status --json`,
// never by sleeping), and compare the output with internal/reference byte for byte.
const (
	faultFiles     = 4
	faultFileSize  = 3 << 20  // bytes per generated input file
	faultSplitSize = 96 << 10 // bytes per map task: many tasks, so a fault lands mid-map
	faultNodes     = 3
	faultJobLimit  = 60 * time.Second // a job with one fault finishes within this
)

// faultInput is the generated input of the fault tests and its wordcount, made once.
var faultInput = sync.OnceValues(func() ([]string, []byte) {
	paths, err := proccluster.WriteCorpus(filepath.Join(scratchDir, "faults"), faultFiles, faultFileSize, 201)
	if err != nil {
		panic(err)
	}
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		panic(err)
	}
	return paths, want.Bytes()
})

// faultCluster is a maplb (mode dlbp), a reducelb and nodes node1…, each 2 slots, all on fixed
// ports.
type faultCluster struct {
	*proccluster.Cluster
	lb    string // the maplb's RPC address
	join  string // the maplb's gossip address
	nodes []string
}

func startFaultCluster(t *testing.T, nodes int) *faultCluster {
	t.Helper()
	c := &faultCluster{Cluster: newCluster(t)}
	c.TailLines = 40
	lb := c.StartFixed(t, "maplb", "maplb", "--http", "127.0.0.1:0", "--module-cache", moduleCache())
	a := lb.WaitServing(t)
	c.lb, c.join = a.RPC, a.Gossip
	rest := []*proccluster.Proc{c.StartFixed(t, "reducelb", "reducelb", "--join", c.join)}
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		rest = append(rest, c.StartFixed(t, "node", name, "--join", c.join, "--slots", "2", "--module-cache", moduleCache()))
		c.nodes = append(c.nodes, name)
	}
	for _, p := range rest {
		p.WaitServing(t)
	}
	c.waitMembers(t, c.nodes...)
	return c
}

// waitMembers waits until the maplb lists the reducelb and every named node alive.
func (c *faultCluster) waitMembers(t *testing.T, nodes ...string) {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("the maplb lists the reducelb and %v alive", nodes), func() (bool, string) {
		ms, err := c.Members(t, c.lb)
		if err != nil {
			return false, err.Error()
		}
		alive := map[string]bool{}
		for _, m := range ms {
			if m.State == "alive" && (m.Role == "node" || m.Role == "reducelb") {
				alive[m.Role+"/"+m.Name] = true
			}
		}
		if !alive["reducelb/reducelb"] {
			return false, fmt.Sprintf("no reducelb: %+v", ms)
		}
		for _, n := range nodes {
			if !alive["node/"+n] {
				return false, fmt.Sprintf("%s missing: %+v", n, ms)
			}
		}
		return true, ""
	})
}

// waitGone waits until the maplb no longer lists node.
func (c *faultCluster) waitGone(t *testing.T, node string) {
	t.Helper()
	waitUntil(t, 20*time.Second, node+" gone from `dlbp nodes`", func() (bool, string) {
		alive, err := c.AliveNodes(t, c.lb)
		if err != nil {
			return false, err.Error()
		}
		return !alive[node], fmt.Sprintf("%v", slices.Sorted(maps.Keys(alive)))
	})
}

// submit submits a detached wordcount of the fault input with r reducers and returns its id.
func (c *faultCluster) submit(t *testing.T, r int) string {
	t.Helper()
	return c.submitJob(t, "wordcount", r)
}

// userWordcount, given as the job to submitJob, is the SDK's word count as a user job
// (WebAssembly); its output, sorted, is the built-in's.
const userWordcount = "user-wordcount"

// submitJob submits job over the fault input with r reducers, detached, and returns its id.
func (c *faultCluster) submitJob(t *testing.T, job string, r int) string {
	t.Helper()
	paths, _ := faultInput()
	what := []string{"--job", job}
	if job == userWordcount {
		wasm := program(t, "wordcount", true)
		what = []string{"--mapper", wasm + " map", "--reducer", wasm + " reduce"}
	}
	args := append(append([]string{"submit", "--lb", c.lb}, what...), "--reducers", strconv.Itoa(r),
		"--split-size", strconv.Itoa(faultSplitSize), "--detach", "--quiet")
	args = append(args, paths...)
	id := strings.TrimSpace(string(mustDLBP(t, args...).Stdout))
	if id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("submit --detach printed %q, want one job id", id)
	}
	return id
}

// wait runs `dlbp wait id`, checks its output against the reference, and returns the job's
// final status.
func (c *faultCluster) wait(t *testing.T, id string) proccluster.Status {
	t.Helper()
	_, want := faultInput()
	return c.waitFor(t, id, want)
}

// waitFor is wait for a job whose output is want.
func (c *faultCluster) waitFor(t *testing.T, id string, want []byte) proccluster.Status {
	t.Helper()
	return c.waitOutput(t, id, want, false)
}

// waitOutput is waitFor; with sorted, the output's lines are sorted first (a user job's).
func (c *faultCluster) waitOutput(t *testing.T, id string, want []byte, sorted bool) proccluster.Status {
	t.Helper()
	r := mustDLBPIO(t, clientIO{Timeout: faultJobLimit}, "wait", id, "--lb", c.lb, "--quiet")
	if sorted {
		r.Stdout = sortedLines(r.Stdout)
	}
	sameOutput(t, "dlbp wait "+id, r.Stdout, want)
	st, err := c.JobStatus(t, c.lb, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "succeeded" {
		t.Errorf("job %s: state %s (%s), want succeeded", id, st.State, st.Error)
	}
	t.Logf("job %s: %d map tasks, attempts by state %v, reducers %+v", id, len(st.Maps), st.AttemptStates(), st.Reducers)
	return st
}

// midMap is a PollJob condition: at least one map done, fewer than half, the job running.
func midMap(st proccluster.Status) (bool, string) {
	why := fmt.Sprintf("state %s, %d/%d maps done", st.State, st.MapsDone, st.MapsTotal)
	if st.State != "running" && st.State != "queued" {
		return false, why
	}
	return st.MapsDone >= 1 && st.MapsDone < st.MapsTotal/2, why
}

// attemptsOn returns the states of every map attempt on node.
func attemptsOn(st proccluster.Status, node string) map[string]int {
	out := map[string]int{}
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			if a.Node == node {
				out[a.State]++
			}
		}
	}
	return out
}

// faultJobs are the jobs the kill tests run: the built-in wordcount and the same as a user job.
var faultJobs = []string{"wordcount", userWordcount}

// waitJob waits for one of faultJobs and checks its output.
func (c *faultCluster) waitJob(t *testing.T, job, id string) proccluster.Status {
	t.Helper()
	_, want := faultInput()
	return c.waitOutput(t, id, want, job == userWordcount)
}

// (a) A node that ran finished map tasks is killed mid-map: its running tasks and the finished
// outputs a reducer still needs run again elsewhere; the output is exact. Also for a user job,
// whose mappers are WebAssembly programs.
func TestFaultKillMapperMidMap(t *testing.T) {
	for _, job := range faultJobs {
		t.Run(job, func(t *testing.T) { killMapperMidMap(t, job) })
	}
}

func killMapperMidMap(t *testing.T, job string) {
	c := startFaultCluster(t, faultNodes)
	start := time.Now()
	id := c.submitJob(t, job, 2)
	var victim string
	st := c.PollJob(t, c.lb, id, 30*time.Second, "a node with a finished map task, mid-map", func(st proccluster.Status) (bool, string) {
		ok, why := midMap(st)
		if !ok {
			return false, why
		}
		done, running := st.DoneMapsOn(), st.RunningMapsOn()
		for _, n := range c.nodes {
			if done[n] > 0 && running[n] > 0 {
				victim = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s; done by node %v, running %v", why, done, running)
	})
	t.Logf("kill -9 %s at %d/%d maps done (it finished %d, runs %d)", victim, st.MapsDone, st.MapsTotal, st.DoneMapsOn()[victim], st.RunningMapsOn()[victim])
	c.Kill9(t, victim)
	st = c.waitJob(t, job, id)
	t.Logf("job took %v; attempts on %s: %v", time.Since(start).Round(time.Millisecond), victim, attemptsOn(st, victim))
	if attemptsOn(st, victim)["lost"] == 0 {
		t.Errorf("no attempt on %s ended lost, though it ran map tasks when it was killed", victim)
	}
	for _, m := range st.Maps {
		if m.State != "done" {
			t.Errorf("map %d: state %s, want done", m.Task, m.State)
		}
	}
}

// (b) The node that `dlbp status` names as a reducer is killed after it was picked: the
// partition gets a new reducer, which gathers every partial again; the output is exact. Also
// for a user job, whose reducers are WebAssembly programs.
func TestFaultKillReducer(t *testing.T) {
	for _, job := range faultJobs {
		t.Run(job, func(t *testing.T) { killReducer(t, job) })
	}
}

func killReducer(t *testing.T, job string) {
	c := startFaultCluster(t, faultNodes)
	id := c.submitJob(t, job, 2)
	var pick proccluster.Pick
	st := c.PollJob(t, c.lb, id, 30*time.Second, "a reducer picked, mid-map", func(st proccluster.Status) (bool, string) {
		ok, why := midMap(st)
		if !ok || len(st.Reducers) == 0 {
			return false, fmt.Sprintf("%s; reducers %+v", why, st.Reducers)
		}
		pick = st.Reducers[0]
		return true, ""
	})
	t.Logf("kill -9 %s, reducer of partition %d, at %d/%d maps done; reducers %+v", pick.Node, pick.Partition, st.MapsDone, st.MapsTotal, st.Reducers)
	c.Kill9(t, pick.Node)
	st = c.waitJob(t, job, id)
	var repicked []proccluster.Pick
	for _, p := range st.Reducers {
		if p.Partition == pick.Partition && p.Node != pick.Node {
			repicked = append(repicked, p)
		}
	}
	if len(repicked) == 0 {
		t.Errorf("partition %d has no reducer other than the killed %s: %+v", pick.Partition, pick.Node, st.Reducers)
	}
	for _, p := range st.Reducers {
		if p.Node == pick.Node && p.Picked > pick.Picked {
			t.Errorf("the killed %s was picked again after its death: %+v", pick.Node, p)
		}
	}
}

// restartBound is how long after a load balancer's restart its job must finish: a few gossip
// rounds and the job's remaining work, well under 30 s.
const restartBound = 30 * time.Second

// restartLB kills the load balancer lb (maplb or reducelb) mid-job, restarts it at once on the
// same data directory and ports (as a supervisor would), and checks that a new `dlbp wait`
// prints the exact result within restartBound. It returns what the client that was waiting
// through the crash got.
func restartLB(t *testing.T, lb string) (first result) {
	c := startFaultCluster(t, faultNodes)
	id := c.submit(t, 3)
	waiting := make(chan result, 1)
	go func() {
		waiting <- proccluster.Run(t, binDir, clientIO{Timeout: faultJobLimit, NoHangCheck: true}, "wait", id, "--lb", c.lb, "--quiet")
	}()
	st := c.PollJob(t, c.lb, id, 30*time.Second, "reducers picked, mid-map", func(st proccluster.Status) (bool, string) {
		ok, why := midMap(st)
		return ok && len(st.Reducers) > 0, fmt.Sprintf("%s; reducers %+v", why, st.Reducers)
	})
	t.Logf("kill -9 %s at %d/%d maps done", lb, st.MapsDone, st.MapsTotal)
	c.Kill9(t, lb)
	restarted := time.Now()
	c.Restart(t, lb)
	t.Logf("%s serving again %v after its restart", lb, time.Since(restarted).Round(time.Millisecond))

	_, want := faultInput()
	r := proccluster.Run(t, binDir, clientIO{Timeout: restartBound, NoHangCheck: true}, "wait", id, "--lb", c.lb, "--quiet")
	if r.Code != 0 {
		st, err := c.JobStatus(t, c.lb, id)
		t.Errorf("BUG: `dlbp wait %s` after the %s restart: exit %d within %v (stderr %q); the job: state %s, %d/%d maps done, attempts %v (%v)",
			id, lb, r.Code, restartBound, bytes.TrimSpace(r.Stderr), st.State, st.MapsDone, st.MapsTotal, st.AttemptStates(), err)
		// Late or lost? Wait longer, to say which.
		r = proccluster.Run(t, binDir, clientIO{Timeout: 2 * faultJobLimit, NoHangCheck: true}, "wait", id, "--lb", c.lb, "--quiet")
		t.Errorf("a second `dlbp wait %s`: exit %d, %v after the restart", id, r.Code, time.Since(restarted).Round(time.Millisecond))
	}
	if r.Code == 0 {
		sameOutput(t, "dlbp wait "+id+" after the restart", r.Stdout, want)
	}
	st, err := c.JobStatus(t, c.lb, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("job %s: %s %v after the restart; attempts by state %v, reducers %+v", id, st.State, time.Since(restarted).Round(time.Millisecond), st.AttemptStates(), st.Reducers)
	if st.State != "succeeded" {
		t.Errorf("after the %s restart: job %s %s (%s), want succeeded", lb, id, st.State, st.Error)
	}
	jobs, err := c.Jobs(t, c.lb)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(jobs, func(j proccluster.Status) bool { return j.ID == id }) {
		t.Errorf("`dlbp jobs` after the restart does not list %s", id)
	}
	first = <-waiting
	t.Logf("the client that waited through the crash: exit %d, %d bytes, stderr %q", first.Code, len(first.Stdout), bytes.TrimSpace(first.Stderr))
	return first
}

// (c) maplb is killed mid-job and restarted on the same data directory and ports: the accepted
// job finishes and a new `dlbp wait` re-attaches (the client that was waiting may fail, but
// must not hang).
func TestFaultRestartMapLB(t *testing.T) {
	first := restartLB(t, "maplb")
	if first.Code == 0 {
		_, want := faultInput()
		sameOutput(t, "the dlbp wait that ran through the maplb crash", first.Stdout, want)
	}
	if first.Code == -1 {
		t.Errorf("the dlbp wait that ran through the maplb crash was still running after %v", faultJobLimit)
	}
}

// (d) reducelb is killed mid-job and restarted on the same data directory and ports: the job
// finishes; maplb stayed up, so the client that was waiting gets the exact result too.
func TestFaultRestartReduceLB(t *testing.T) {
	first := restartLB(t, "reducelb")
	_, want := faultInput()
	if first.Code != 0 {
		t.Errorf("the dlbp wait that ran through the reducelb crash (maplb stayed up): %v", first)
	} else {
		sameOutput(t, "the dlbp wait that ran through the reducelb crash", first.Stdout, want)
	}
}

// (e) A node that runs map tasks hangs (SIGSTOP) until the job has finished: the job finishes
// in bounded time with the exact output, and its attempts on the hung node end lost or
// superseded.
func TestFaultHungNode(t *testing.T) {
	c := startFaultCluster(t, faultNodes)
	id := c.submit(t, 2)
	var victim string
	st := c.PollJob(t, c.lb, id, 30*time.Second, "a node running map tasks, mid-map", func(st proccluster.Status) (bool, string) {
		ok, why := midMap(st)
		if !ok {
			return false, why
		}
		running := st.RunningMapsOn()
		for _, n := range c.nodes {
			if running[n] > 0 {
				victim = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s; running %v", why, running)
	})
	t.Logf("SIGSTOP %s at %d/%d maps done (it runs %d)", victim, st.MapsDone, st.MapsTotal, st.RunningMapsOn()[victim])
	c.Stop(t, victim)
	stopped := time.Now()
	st = c.wait(t, id)
	took := time.Since(stopped)
	c.Cont(t, victim)
	t.Logf("job finished %v after the SIGSTOP; attempts on %s: %v", took.Round(time.Millisecond), victim, attemptsOn(st, victim))
	if took > faultJobLimit {
		t.Errorf("the job took %v after the SIGSTOP, want < %v", took, faultJobLimit)
	}
	on := attemptsOn(st, victim)
	if on["lost"]+on["superseded"] == 0 {
		t.Errorf("no attempt on the hung %s ended lost or superseded: %v", victim, on)
	}
	// The node is back: it takes work again (a new job's map tasks reach it).
	c.waitMembers(t, c.nodes...)
}

// (f) A node killed and restarted under the same name, and one started under a new name, both
// take map tasks of the next job.
func TestFaultRejoin(t *testing.T) {
	c := startFaultCluster(t, faultNodes)
	victim := c.nodes[len(c.nodes)-1]
	newName := victim + "-new"
	c.Kill9(t, victim)
	c.waitGone(t, victim)
	c.Restart(t, victim)
	c.StartAs(t, victim, newName).WaitServing(t)
	c.waitMembers(t, append(slices.Clone(c.nodes), newName)...)
	id := c.submit(t, 2)
	st := c.wait(t, id)
	done := st.DoneMapsOn()
	t.Logf("map tasks done by node: %v", done)
	for _, n := range []string{victim, newName} {
		if done[n] == 0 {
			t.Errorf("%s ran no map task of the job after rejoining: %v", n, done)
		}
	}
}

// (h) Poison. A node whose disk fails every map task (its spill directory replaced by a file,
// so each task fails with "not a directory") gets fewer tasks: after a streak of failures it is
// paused, the job's tasks run on the healthy nodes, and the output is exact. When every node
// fails, a task that failed on 3 different nodes fails the job with the reason, instead of
// looping (or, when the other nodes are paused for failing, after 4 failures in all);
// `dlbp wait` exits 1 and says why.
func TestFaultPoison(t *testing.T) {
	c := startFaultCluster(t, faultNodes)
	breakDisk := func(node string) {
		spill := filepath.Join(c.Proc(t, node).DataDir, "spill")
		if err := os.RemoveAll(spill); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(spill, []byte("a broken disk\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	breakDisk("node1")
	st := c.wait(t, c.submit(t, 2))
	bad := attemptsOn(st, "node1")
	t.Logf("attempts on the broken node1: %v; on node2: %v; on node3: %v", bad, attemptsOn(st, "node2"), attemptsOn(st, "node3"))
	if bad["failed"] == 0 || bad["done"] != 0 {
		t.Fatalf("attempts on node1 %v: want failures only (the fault did not bite)", bad)
	}
	for _, m := range st.Maps {
		for _, a := range m.Attempts {
			if a.Node == "node1" && a.State == "failed" && !strings.Contains(a.Reason, "not a directory") {
				t.Errorf("map %d on node1 failed with %q, want the disk's error", m.Task, a.Reason)
			}
		}
	}
	for _, n := range []string{"node2", "node3"} {
		if good := attemptsOn(st, n)["done"]; bad["failed"] >= good {
			t.Errorf("the broken node1 got %d attempts, not fewer than the %d tasks %s did", bad["failed"], good, n)
		}
	}

	breakDisk("node2")
	breakDisk("node3")
	id := c.submit(t, 2)
	r := dlbpIO(t, clientIO{Timeout: faultJobLimit}, "wait", id, "--lb", c.lb, "--quiet")
	if r.Code != 1 {
		t.Fatalf("dlbp wait on a job every node fails: exit %d, want 1; stderr:\n%s", r.Code, r.Stderr)
	}
	msg := string(r.Stderr)
	// The scheduler gives up on a task once it failed on 3 different nodes, or 4 times in all
	// (a retry goes back to a node it failed on when the others are paused).
	poisonMsg := regexp.MustCompile(`map task \d+ failed (\d+) times on (\d+) nodes, last: .*not a directory`)
	if m := poisonMsg.FindStringSubmatch(msg); m == nil || (m[1] != "4" && m[2] != "3") || m[2] == "1" {
		t.Errorf("dlbp wait says %q; want the task's failures (on 3 nodes, or 4 times on 2 or more) and the reason", msg)
	}
	st, err := c.JobStatus(t, c.lb, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "failed" {
		t.Fatalf("job %s: state %s, want failed", id, st.State)
	}
	poisoned := false
	for _, m := range st.Maps {
		on, failed := map[string]bool{}, 0
		for _, a := range m.Attempts {
			if a.State == "failed" {
				on[a.Node] = true
				failed++
			}
		}
		poisoned = poisoned || len(on) >= 3 || (failed >= 4 && len(on) >= 2)
	}
	if !poisoned {
		t.Errorf("no map task of the failed job failed on 3 different nodes, or 4 times on 2: %+v", st.Maps)
	}
	t.Logf("the poisoned job failed: %s", strings.TrimSpace(msg))
}

// (i) The result outlives its reducer: once a job succeeded, each part is on its reducer and on
// a copy on another node (`status --json` lists both). Killing the reducer of a part after the
// job succeeded leaves the result readable, exact, from the copy — read from the nodes
// (--fetch direct) and through maplb (--fetch lb). The job is sort, whose parts are too large
// to travel inline (those are kept by the load balancers: pkg/client's
// TestSmallResultKeptByTheLoadBalancers).
func TestFaultKillReducerAfterSuccess(t *testing.T) {
	paths, _ := faultInput()
	var want bytes.Buffer
	if err := reference.Sort(paths, &want); err != nil {
		t.Fatal(err)
	}
	c := startFaultCluster(t, faultNodes)
	id := c.submitJob(t, "sort", 2)
	st := c.waitFor(t, id, want.Bytes())
	if len(st.Parts) != 2 {
		t.Fatalf("status lists parts %+v, want 2", st.Parts)
	}
	for _, p := range st.Parts {
		if p.Copy == "" || p.Copy == p.Node || p.Inline {
			t.Fatalf("part %d (%d bytes) is on %s with copy %q, inline %v: want a copy on another node", p.Partition, p.Bytes, p.Node, p.Copy, p.Inline)
		}
	}
	victim := st.Parts[0].Node
	t.Logf("parts %+v; kill -9 %s, reducer of part 0, after the job succeeded", st.Parts, victim)
	c.Kill9(t, victim)
	for _, fetch := range []string{"direct", "lb"} {
		r := mustDLBPIO(t, clientIO{Timeout: faultJobLimit}, "wait", id, "--lb", c.lb, "--quiet", "--fetch", fetch)
		sameOutput(t, "dlbp wait "+id+" --fetch "+fetch+" after its reducer died", r.Stdout, want.Bytes())
	}
}
