// Package testcluster starts a whole dlbp cluster — map and reduce load
// balancers and nodes — inside one test process, on 127.0.0.1 with port 0
// and fast gossip timings.
package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/maplb"
	"github.com/dlbp/dlbp/pkg/node"
	"github.com/dlbp/dlbp/pkg/reducelb"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	t       testing.TB
	dir     string
	tweak   func(*daemon.Options)
	logCore zapcore.Core
	// Logs holds what the daemons logged at info level and above.
	Logs     *observer.ObservedLogs
	MapLB    *maplb.MapLB // mode dlbp
	Single   *maplb.MapLB // mode single, sharing the nodes
	ReduceLB *reducelb.ReduceLB
	Nodes    []*node.Node

	stoppedReduceLB daemon.Options // StopReduceLB's, for StartReduceLB
}

func (c *Cluster) options(role cluster.Role, name string, join []string) daemon.Options {
	o := daemon.Defaults(role)
	o.Name, o.DataDir = name, filepath.Join(c.dir, name)
	o.RPC, o.Gossip, o.HTTP = "127.0.0.1:0", "127.0.0.1:0", ""
	o.Join = join
	// The daemons share one cache of compiled WebAssembly modules, as daemons on one host may:
	// a module is compiled once per cluster, not once per daemon (seconds each).
	o.ModuleCache = filepath.Join(c.dir, "wasm-cache")
	if c.tweak != nil {
		c.tweak(&o)
	}
	return o
}

// logger logs to the test at warn level, or at the level in
// $DLBP_TEST_LOG (debug, info, …) when a test needs to be understood. It
// stops writing when the test's cleanup starts: memberlist goroutines may
// log a moment after Shutdown, and logging to a finished test panics.
//
// Every daemon's lines at info level and above are also kept in c.Logs, so
// tests can check what the daemons say.
func (c *Cluster) logger() *zap.Logger {
	t := c.t
	lvl := zapcore.WarnLevel
	if s := os.Getenv("DLBP_TEST_LOG"); s != "" {
		if l, err := zapcore.ParseLevel(s); err == nil {
			lvl = l
		}
	}
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewTee(zapcore.NewCore(enc, zapcore.AddSync(w), lvl), c.logCore))
}

// testWriter writes log lines to a test until stop.
type testWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// Gossip returns the memberlist timings of in-process clusters: fast, but
// with enough slack that a loaded 2-core machine running the race detector
// does not declare live members dead (memberlist's 25 ms probe timeout of
// cluster.TestConfig does, and the resulting flaps re-run work).
func Gossip() cluster.Config {
	g := cluster.TestConfig()
	g.ProbeInterval = 100 * time.Millisecond
	g.ProbeTimeout = 80 * time.Millisecond
	g.SuspicionMult = 2
	return g
}

// Start starts maplb (mode dlbp), a second maplb in mode single, reducelb
// and n nodes, and waits until every member sees the others.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, nil)
}

// StartWith is Start with every daemon's options passed through tweak
// first (secrets, TLS, limits).
func StartWith(t testing.TB, n int, tweak func(*daemon.Options)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir(), tweak: tweak}
	c.logCore, c.Logs = observer.New(zapcore.InfoLevel)
	t.Cleanup(c.Stop)
	gossip := Gossip()
	o := c.options(cluster.RoleMapLB, "maplb", nil)
	m, err := maplb.New(o, c.logger().Named("maplb"), gossip)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	c.MapLB = m
	join := []string{m.Cluster.GossipAddr()}
	o = c.options(cluster.RoleMapLB, "maplb-single", join)
	o.Mode = "single"
	if c.Single, err = maplb.New(o, c.logger().Named("single"), gossip); err != nil {
		t.Fatal(err)
	}
	if err := c.Single.Start(); err != nil {
		t.Fatal(err)
	}
	if c.ReduceLB, err = reducelb.New(c.options(cluster.RoleReduceLB, "reducelb", join), c.logger().Named("reducelb"), gossip); err != nil {
		t.Fatal(err)
	}
	if err := c.ReduceLB.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		c.AddNode(fmt.Sprintf("node%d", i+1))
	}
	c.WaitMembers(3 + n)
	return c
}

// RestartMapLB stops the dlbp-mode maplb abruptly (as far as the cluster
// sees: it does not leave) and starts it again on the same data directory,
// under the same name, on new ports.
func (c *Cluster) RestartMapLB() {
	c.t.Helper()
	o := c.MapLB.Opts
	c.MapLB.Close()
	o.RPC, o.Gossip = "127.0.0.1:0", "127.0.0.1:0"
	o.Join = []string{c.ReduceLB.Cluster.GossipAddr()}
	m, err := maplb.New(o, c.logger().Named("maplb"), Gossip())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.MapLB = m
}

// RestartReduceLB does the same for reducelb.
func (c *Cluster) RestartReduceLB() {
	c.t.Helper()
	c.StopReduceLB()
	c.StartReduceLB()
}

// StopReduceLB stops reducelb abruptly; StartReduceLB starts it again (on the same data
// directory, under the same name, on new ports).
func (c *Cluster) StopReduceLB() {
	c.stoppedReduceLB = c.ReduceLB.Opts
	c.ReduceLB.Close()
	c.ReduceLB = nil
}

// StartReduceLB starts the reducelb StopReduceLB stopped.
func (c *Cluster) StartReduceLB() {
	c.t.Helper()
	o := c.stoppedReduceLB
	o.RPC, o.Gossip = "127.0.0.1:0", "127.0.0.1:0"
	o.Join = []string{c.MapLB.Cluster.GossipAddr()}
	r, err := reducelb.New(o, c.logger().Named("reducelb"), Gossip())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.ReduceLB = r
}

// AddNode starts one more node.
func (c *Cluster) AddNode(name string) *node.Node {
	c.t.Helper()
	return c.AddNodeWith(name, filepath.Join(c.dir, name))
}

// AddNodeWith starts a node with the given name and data directory: the
// way a node that crashed comes back.
func (c *Cluster) AddNodeWith(name, dataDir string) *node.Node {
	c.t.Helper()
	o := c.options(cluster.RoleNode, name, []string{c.MapLB.Cluster.GossipAddr()})
	o.DataDir = dataDir
	nd, err := node.New(o, c.logger().Named(name), Gossip())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.Nodes = append(c.Nodes, nd)
	return nd
}

// WaitMembers waits until both maplbs and reducelb see n members.
func (c *Cluster) WaitMembers(n int) {
	c.t.Helper()
	WaitFor(c.t, 10*time.Second, fmt.Sprintf("%d members", n), func() bool {
		for _, b := range []*daemon.Base{c.MapLB.Base, c.Single.Base, c.ReduceLB.Base} {
			if len(b.Cluster.Members()) != n {
				return false
			}
		}
		return true
	})
}

// Client returns a client of the maplb in the given mode.
func (c *Cluster) Client(mode string) *client.Client {
	lb := c.MapLB
	if mode == "single" {
		lb = c.Single
	}
	o := lb.Opts
	cl := client.NewTLS(lb.RPCAddr(), o.Secret, o.ClientTLS)
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Stop closes every daemon.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Close()
	}
	c.Nodes = nil
	if c.ReduceLB != nil {
		c.ReduceLB.Close()
		c.ReduceLB = nil
	}
	for _, m := range []**maplb.MapLB{&c.Single, &c.MapLB} {
		if *m != nil {
			(*m).Close()
			*m = nil
		}
	}
}

// WaitFor polls cond until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}
