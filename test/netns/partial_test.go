package netns

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// dropBetween drops every packet between host a and host b, in a's namespace (both ways); each
// still reaches every other host.
func (n *net) dropBetween(a, b string) {
	ip := n.hostIP(b)
	must(n.t, "ip", "netns", "exec", n.ns(a), "iptables", "-A", "OUTPUT", "-d", ip, "-j", "DROP")
	must(n.t, "ip", "netns", "exec", n.ns(a), "iptables", "-A", "INPUT", "-s", ip, "-j", "DROP")
}

// reducerOf returns the node picked last to reduce partition 0, or "".
func reducerOf(st map[string]any) string {
	picks, _ := st["reducers"].([]any)
	node := ""
	for _, p := range picks {
		if pk, ok := p.(map[string]any); ok && pk["partition"] == float64(0) {
			node, _ = pk["node"].(string)
		}
	}
	return node
}

// wordcountWithOneReducer submits a wordcount of 16 MB with one reducer and waits until it is
// picked; it returns the job, its reducer and the output the job must print.
func (c *cluster) wordcountWithOneReducer(ctx context.Context) (id, reducer string, want *bytes.Buffer) {
	c.t.Helper()
	paths, want := wordcountInputs(c.t, c)
	out, errb, err := c.dlbp(ctx, append([]string{"submit", "--job", "wordcount", "--reducers", "1", "--split-size", "128KiB", "--detach"}, paths...)...)
	if err != nil {
		c.t.Fatalf("submit: %v: %s", err, errb)
	}
	id = strings.TrimSpace(string(out))
	waitFor(c.t, 60*time.Second, "the reducer to be picked", func() bool { reducer = reducerOf(c.status(id)); return reducer != "" })
	return id, reducer, want
}

// TestReducerCutFromOneHolder: the reducer of a job loses its link to one node that holds map
// outputs, and to it only: the load balancers, and every other node, still reach both. The
// reducer cannot fetch those partials; it reports them, their map tasks run again on another
// node, and the job finishes exact (it used to wait forever: the holder looked alive to
// everyone who decides).
func TestReducerCutFromOneHolder(t *testing.T) {
	if err := run(t, "iptables", "--version"); err != nil {
		t.Skipf("needs iptables: %v", err)
	}
	n, c, _ := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id, reducer, want := c.wordcountWithOneReducer(ctx)
	holder := "n1"
	if reducer == holder {
		holder = "n2"
	}
	n.dropBetween(reducer, holder)
	t.Logf("cut %s (the reducer) from %s with the job at %v map tasks done", reducer, holder, nodesOfMaps(c.status(id)))

	got, errb, err := c.dlbp(ctx, "wait", id, "--quiet")
	if err != nil {
		t.Fatalf("wait: %v: %s", err, errb)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("output differs from the reference (%d bytes, want %d)", len(got), want.Len())
	}
	t.Logf("job finished exact; map tasks done by node: %v", nodesOfMaps(c.status(id)))
}

// TestNodeCutFromReduceLB: a node that reduces a partition loses its link to reducelb, and to
// it only (reducelb runs on a host of its own): maplb and the other nodes still reach it, so
// gossip keeps it alive. reducelb hears nothing from it any more: after its stall timeout the
// partition goes to another node, the node's map outputs still serve the other reducers, and
// the job finishes exact.
func TestNodeCutFromReduceLB(t *testing.T) {
	if err := run(t, "iptables", "--version"); err != nil {
		t.Skipf("needs iptables: %v", err)
	}
	n, c, _ := startClusterWith(t, clusterSetup{ownReduceLBHost: true, reduceLBArgs: []string{"--stall-timeout", "5s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id, reducer, want := c.wordcountWithOneReducer(ctx)
	n.dropBetween(reducer, "rlb")
	cutAt := time.Now()
	t.Logf("cut %s (the reducer) from reducelb with the job at %v map tasks done", reducer, nodesOfMaps(c.status(id)))

	got, errb, err := c.dlbp(ctx, "wait", id, "--quiet")
	if err != nil {
		t.Fatalf("wait: %v: %s", err, errb)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("output differs from the reference (%d bytes, want %d)", len(got), want.Len())
	}
	st := c.status(id)
	if now := reducerOf(st); now == reducer {
		t.Fatalf("partition 0 is still reduced by %s, cut from reducelb", reducer)
	}
	t.Logf("job finished exact %v after the cut; reduced by %s; map tasks done by node: %v", time.Since(cutAt).Round(time.Millisecond), reducerOf(st), nodesOfMaps(st))
}

// TestMapLBCutFromReduceLB: the two load balancers lose the link between them, and only it
// (each on a host of its own; both still reach every node). reducelb's news of the job reaches
// maplb through a node, and the job finishes exact.
func TestMapLBCutFromReduceLB(t *testing.T) {
	if err := run(t, "iptables", "--version"); err != nil {
		t.Skipf("needs iptables: %v", err)
	}
	n, c, _ := startClusterWith(t, clusterSetup{ownReduceLBHost: true})
	paths, want := wordcountInputs(t, c)
	n.dropBetween("lb", "rlb")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	for i, r := range []string{"2", "1"} {
		got, errb, err := c.dlbp(ctx, append([]string{"submit", "--job", "wordcount", "--reducers", r, "--split-size", "128KiB", "--quiet"}, paths...)...)
		if err != nil {
			t.Fatalf("job %d: %v: %s", i+1, err, errb)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("job %d: output differs from the reference (%d bytes, want %d)", i+1, len(got), want.Len())
		}
		t.Logf("job %d (R=%s) exact, %v after the cut", i+1, r, time.Since(start).Round(time.Millisecond))
	}
}
