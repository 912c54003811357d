// Package netns runs a cluster across network namespaces — one host for the
// load balancers and one per node, joined by a bridge — to test what only a
// real network shows: a node's link cut mid-job (no connection refused,
// just silence) and restored later.
package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
)

// net is the namespaces and links of one test.
type net struct {
	t      *testing.T
	id     string
	subnet string
	hosts  []string
}

func run(t *testing.T, args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func must(t *testing.T, args ...string) {
	t.Helper()
	if err := run(t, args...); err != nil {
		t.Fatal(err)
	}
}

func (n *net) ns(host string) string     { return "dlbp" + n.id + "-" + host }
func (n *net) swPort(host string) string { return "s" + n.id + host }
func (n *net) ip(i int) string           { return fmt.Sprintf("%s.%d", n.subnet, i) }

// newNet makes a switch namespace with a bridge and one namespace per host,
// each with a veth to the bridge, or skips when this machine cannot.
func newNet(t *testing.T, hosts []string) *net {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create network namespaces")
	}
	n := &net{t: t, id: fmt.Sprintf("%04x", rand.IntN(1<<16)), subnet: fmt.Sprintf("10.231.%d", 1+rand.IntN(250)), hosts: hosts}
	if err := run(t, "ip", "netns", "add", n.ns("sw")); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(n.destroy)
	must(t, "ip", "-n", n.ns("sw"), "link", "add", "br0", "type", "bridge")
	must(t, "ip", "-n", n.ns("sw"), "link", "set", "br0", "up")
	for i, h := range hosts {
		must(t, "ip", "netns", "add", n.ns(h))
		must(t, "ip", "link", "add", "v"+n.id+h, "netns", n.ns(h), "type", "veth", "peer", "name", n.swPort(h), "netns", n.ns("sw"))
		must(t, "ip", "-n", n.ns(h), "link", "set", "v"+n.id+h, "name", "eth0")
		must(t, "ip", "-n", n.ns(h), "addr", "add", n.ip(10+i)+"/24", "dev", "eth0")
		must(t, "ip", "-n", n.ns(h), "link", "set", "eth0", "up")
		must(t, "ip", "-n", n.ns(h), "link", "set", "lo", "up")
		must(t, "ip", "-n", n.ns("sw"), "link", "set", n.swPort(h), "master", "br0")
		must(t, "ip", "-n", n.ns("sw"), "link", "set", n.swPort(h), "up")
	}
	return n
}

func (n *net) hostIP(host string) string {
	for i, h := range n.hosts {
		if h == host {
			return n.ip(10 + i)
		}
	}
	n.t.Fatalf("no host %s", host)
	return ""
}

// cut and restore take a host's link down and up at the switch.
func (n *net) cut(host string) {
	must(n.t, "ip", "-n", n.ns("sw"), "link", "set", n.swPort(host), "down")
}
func (n *net) restore(host string) {
	must(n.t, "ip", "-n", n.ns("sw"), "link", "set", n.swPort(host), "up")
}

func (n *net) destroy() {
	for _, h := range append([]string{"sw"}, n.hosts...) {
		run(n.t, "ip", "netns", "del", n.ns(h))
	}
}

// daemon is a process started in a host's namespace.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
}

type cluster struct {
	t       *testing.T
	net     *net
	bin     string
	dir     string
	secret  string
	daemons []*daemon
}

func (c *cluster) start(host, name, prog string, args ...string) *daemon {
	c.t.Helper()
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	full := append([]string{"netns", "exec", c.net.ns(host), filepath.Join(c.bin, prog),
		"--name", name, "--data-dir", filepath.Join(c.dir, name), "--secret-file", c.secret, "--log-level", logLevel()}, args...)
	cmd := exec.Command("ip", full...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath}
	c.daemons = append(c.daemons, d)
	return d
}

func (c *cluster) stopAll() {
	for _, d := range c.daemons {
		d.cmd.Process.Signal(syscall.SIGKILL)
		d.cmd.Wait()
	}
	keep := os.Getenv("DLBP_NETNS_KEEP_LOGS") // a directory for the whole logs, failed or not
	for _, d := range c.daemons {
		if data, err := os.ReadFile(d.log); err == nil && keep != "" && os.MkdirAll(keep, 0o755) == nil {
			os.WriteFile(filepath.Join(keep, d.name+".log"), data, 0o644)
		}
	}
	if c.t.Failed() {
		for _, d := range c.daemons {
			data, _ := os.ReadFile(d.log)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			c.t.Logf("--- %s log (tail) ---\n%s", d.name, strings.Join(lines, "\n"))
		}
	}
}

// dlbp runs the client in the load balancers' host.
func (c *cluster) dlbp(ctx context.Context, args ...string) ([]byte, []byte, error) {
	full := append([]string{"netns", "exec", c.net.ns("lb"), filepath.Join(c.bin, "dlbp")}, args...)
	full = append(full, "--lb", c.net.hostIP("lb")+":7070", "--secret-file", c.secret)
	cmd := exec.CommandContext(ctx, "ip", full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

func (c *cluster) status(id string) map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, errb, err := c.dlbp(ctx, "status", id, "--json")
	if err != nil {
		c.t.Fatalf("status: %v: %s", err, errb)
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// nodesOfMaps counts finished map attempts by node.
func nodesOfMaps(st map[string]any) map[string]int {
	out := map[string]int{}
	maps, _ := st["maps"].([]any)
	for _, m := range maps {
		for _, a := range m.(map[string]any)["attempts"].([]any) {
			at := a.(map[string]any)
			if at["state"] == "done" {
				out[at["node"].(string)]++
			}
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLinkCutMidJob cuts a node's link while a job runs on it: the job
// finishes with the exact output on the other nodes; once the link is back
// the node rejoins and takes work again.
// startCluster builds the binaries and starts maplb and reducelb on host lb and a node on each
// of n1, n2 and n3, and waits until all three nodes are alive; alive tells whether a node is.
func startCluster(t *testing.T) (*net, *cluster, func(string) bool) {
	return startClusterWith(t, clusterSetup{})
}

// clusterSetup changes startCluster's cluster.
type clusterSetup struct {
	// ownReduceLBHost puts reducelb on a host of its own, rlb, so that a test can cut it from
	// maplb or from one node only.
	ownReduceLBHost bool
	// reduceLBArgs are more flags for reducelb.
	reduceLBArgs []string
}

func startClusterWith(t *testing.T, s clusterSetup) (*net, *cluster, func(string) bool) {
	hosts := []string{"lb", "n1", "n2", "n3"}
	rhost := "lb"
	if s.ownReduceLBHost {
		hosts, rhost = append(hosts, "rlb"), "rlb"
	}
	n := newNet(t, hosts)
	c := &cluster{t: t, net: n, dir: t.TempDir()}
	t.Cleanup(c.stopAll)
	root, _ := os.Getwd()
	root = filepath.Join(root, "..", "..")
	c.bin = filepath.Join(c.dir, "bin")
	build := exec.Command("go", "build", "-o", c.bin+"/", "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	c.secret = filepath.Join(c.dir, "secret")
	os.WriteFile(c.secret, []byte("netns test cluster secret 0123456789"), 0o600)

	lb, rlb := n.hostIP("lb"), n.hostIP(rhost)
	c.start("lb", "maplb", "maplb", "--rpc", lb+":7070", "--gossip", lb+":7946", "--http", "")
	c.start(rhost, "reducelb", "reducelb", append([]string{"--rpc", rlb + ":7080", "--gossip", rlb + ":7947", "--join", lb + ":7946"}, s.reduceLBArgs...)...)
	for _, h := range []string{"n1", "n2", "n3"} {
		ip := n.hostIP(h)
		c.start(h, h, "node", "--rpc", ip+":7000", "--gossip", ip+":7946", "--join", lb+":7946", "--slots", "2")
	}
	alive := func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, _, err := c.dlbp(ctx, "nodes", "--json")
		if err != nil {
			return false
		}
		var nodes []map[string]any
		json.Unmarshal(out, &nodes)
		for _, nd := range nodes {
			if nd["name"] == name && nd["state"] == "alive" {
				return true
			}
		}
		return false
	}
	waitFor(t, 30*time.Second, "three nodes alive", func() bool { return alive("n1") && alive("n2") && alive("n3") })
	return n, c, alive
}

// wordcountInputs writes 16 MB of text in 4 files and returns them with their word count.
func wordcountInputs(t *testing.T, c *cluster) ([]string, *bytes.Buffer) {
	var paths []string
	for i := 0; i < 4; i++ {
		p := filepath.Join(c.dir, fmt.Sprintf("text%d.txt", i))
		f, _ := os.Create(p)
		if err := corpus.Generate(f, 4<<20, int64(10+i)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	return paths, &want
}

func TestLinkCutMidJob(t *testing.T) {
	n, c, alive := startCluster(t)
	paths, want := wordcountInputs(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, errb, err := c.dlbp(ctx, append([]string{"submit", "--job", "wordcount", "--reducers", "3", "--split-size", "128KiB", "--detach"}, paths...)...)
	if err != nil {
		t.Fatalf("submit: %v: %s", err, errb)
	}
	id := strings.TrimSpace(string(out))
	waitFor(t, 60*time.Second, "n1 to finish map tasks", func() bool { return nodesOfMaps(c.status(id))["n1"] > 0 })
	t.Logf("cutting n1's link with the job at %v map tasks done", nodesOfMaps(c.status(id)))
	n.cut("n1")
	cutAt := time.Now()

	got, errb, err := c.dlbp(ctx, "wait", id, "--quiet")
	if err != nil {
		t.Fatalf("wait: %v: %s", err, errb)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("output differs from the reference (%d bytes, want %d)", len(got), want.Len())
	}
	t.Logf("job finished exact %v after the cut", time.Since(cutAt).Round(time.Millisecond))

	n.restore("n1")
	waitFor(t, 60*time.Second, "n1 to rejoin", func() bool { return alive("n1") })
	out, errb, err = c.dlbp(ctx, append([]string{"submit", "--job", "wordcount", "--reducers", "2", "--split-size", "128KiB", "--detach"}, paths...)...)
	if err != nil {
		t.Fatalf("second submit: %v: %s", err, errb)
	}
	id2 := strings.TrimSpace(string(out))
	got, errb, err = c.dlbp(ctx, "wait", id2, "--quiet")
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("second job: %v %s (%d bytes)", err, errb, len(got))
	}
	if ran := nodesOfMaps(c.status(id2)); ran["n1"] == 0 {
		t.Fatalf("n1 took no map task after rejoining: %v", ran)
	} else {
		t.Logf("after rejoining, map tasks by node: %v", ran)
	}
}

// logLevel is the daemons' --log-level: $DLBP_NETNS_LOG_LEVEL, or info.
func logLevel() string {
	if l := os.Getenv("DLBP_NETNS_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}
