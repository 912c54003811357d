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

// reducerOf returns the node picked to reduce partition 0, or "".
func reducerOf(st map[string]any) string {
	picks, _ := st["reducers"].([]any)
	for _, p := range picks {
		if pk, ok := p.(map[string]any); ok && pk["partition"] == float64(0) {
			node, _ := pk["node"].(string)
			return node
		}
	}
	return ""
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
	paths, want := wordcountInputs(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, errb, err := c.dlbp(ctx, append([]string{"submit", "--job", "wordcount", "--reducers", "1", "--split-size", "128KiB", "--detach"}, paths...)...)
	if err != nil {
		t.Fatalf("submit: %v: %s", err, errb)
	}
	id := strings.TrimSpace(string(out))
	var reducer string
	waitFor(t, 60*time.Second, "the reducer to be picked", func() bool { reducer = reducerOf(c.status(id)); return reducer != "" })
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
