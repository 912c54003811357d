// Package proccluster runs a dlbp cluster as real processes on loopback, for the end-to-end and
// fault tests: it builds the binaries, starts daemons (on port 0, or on fixed ports chosen up
// front so that a daemon can be restarted at the same addresses), reads the addresses each one
// writes to DATA-DIR/addrs.json, injects faults (kill -9, restart, SIGSTOP/SIGCONT, a node back
// under a new name), runs the dlbp client, and prints the daemons' log tails when a test fails.
//
// Every daemon a Cluster starts is stopped when the test that made the Cluster ends, and the
// kernel kills it if the test process dies first.
package proccluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timings of the process handling.
const (
	// ServeTimeout is how long a daemon has to write its addrs.json after it starts.
	ServeTimeout = 15 * time.Second
	// StopGrace is how long a daemon has to exit after SIGTERM before it gets SIGKILL.
	StopGrace = 10 * time.Second
	// LogTailLines is how many lines of each daemon's log a failed test prints by default.
	LogTailLines = 25
)

// Addrs is DATA-DIR/addrs.json, written by a daemon once it serves.
type Addrs struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	RPC    string `json:"rpc"`
	Gossip string `json:"gossip"`
	HTTP   string `json:"http"`
	PID    int    `json:"pid"`
}

// Cluster is a set of daemons started by one test, all stopped when it ends.
type Cluster struct {
	// BinDir holds the binaries (see Build).
	BinDir string
	// Dir holds every daemon's data directory (Dir/NAME) and log (Dir/NAME.log).
	Dir string
	// TailLines is how many lines of each log a failed test prints (LogTailLines by default).
	TailLines int
	// KeepLogsIn, when set, is a directory where a failed test's daemon logs are copied whole
	// (the cluster's own directory is removed with the test).
	KeepLogsIn string

	mu    sync.Mutex
	procs []*Proc
}

// New returns an empty cluster of the binaries in binDir. When tb ends, every daemon is stopped
// and, if tb failed, the tail of every daemon's log is printed.
func New(tb testing.TB, binDir string) *Cluster {
	tb.Helper()
	c := &Cluster{BinDir: binDir, Dir: tb.TempDir(), TailLines: LogTailLines}
	tb.Cleanup(func() {
		c.StopAll(tb)
		if tb.Failed() {
			c.PrintLogTails(tb)
			if c.KeepLogsIn != "" {
				c.copyLogs(tb)
			}
		}
	})
	return c
}

// Proc is one daemon of the cluster, under one name, across its restarts.
type Proc struct {
	Name    string
	Bin     string   // maplb, reducelb or node
	Args    []string // the flags given after --rpc, --gossip, --data-dir and --name
	DataDir string
	LogPath string
	// RPCPort and GossipPort are the fixed ports (StartFixed), or 0 for "any".
	RPCPort, GossipPort int

	c        *Cluster
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the current process's Wait returned
	started  time.Time
	addrs    Addrs
	stopped  bool // SIGSTOPped and not yet SIGCONTinued
	restarts int
}

// Start starts a daemon of binary bin (maplb, reducelb or node) named name, with RPC and
// gossip on port 0 and its data directory under the cluster's directory; its standard output
// and error go to a log file there. It does not wait for it to serve (see WaitServing).
func (c *Cluster) Start(tb testing.TB, bin, name string, args ...string) *Proc {
	tb.Helper()
	return c.start(tb, bin, name, 0, 0, args)
}

// StartFixed is Start on RPC and gossip ports picked now (FreePort), so that Restart brings
// the daemon back at the same addresses — what a restarted load balancer needs, since the
// members join its gossip address and clients dial its RPC address.
func (c *Cluster) StartFixed(tb testing.TB, bin, name string, args ...string) *Proc {
	tb.Helper()
	rpc, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	gossip, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return c.start(tb, bin, name, rpc, gossip, args)
}

// StartAs starts a new daemon named newName with the same binary and flags as the daemon
// name (a node that comes back under a new name): a fresh data directory, and fresh fixed
// ports if name had fixed ports. It does not wait for it to serve.
func (c *Cluster) StartAs(tb testing.TB, name, newName string) *Proc {
	tb.Helper()
	old := c.Proc(tb, name)
	if old.RPCPort != 0 {
		return c.StartFixed(tb, old.Bin, newName, old.Args...)
	}
	return c.Start(tb, old.Bin, newName, old.Args...)
}

func (c *Cluster) start(tb testing.TB, bin, name string, rpcPort, gossipPort int, args []string) *Proc {
	tb.Helper()
	c.mu.Lock()
	for _, p := range c.procs {
		if p.Name == name {
			c.mu.Unlock()
			tb.Fatalf("proccluster: a daemon named %s was already started (use Restart)", name)
		}
	}
	p := &Proc{
		Name: name, Bin: bin, Args: append([]string(nil), args...),
		DataDir: filepath.Join(c.Dir, name), LogPath: filepath.Join(c.Dir, name+".log"),
		RPCPort: rpcPort, GossipPort: gossipPort, c: c,
	}
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.launch(); err != nil {
		tb.Fatal(err)
	}
	return p
}

// launch starts a process for p, appending to its log. p.mu is held.
func (p *Proc) launch() error {
	log, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if p.restarts > 0 {
		fmt.Fprintf(log, "==== proccluster: restart %d of %s at %s ====\n", p.restarts, p.Name, time.Now().Format(time.RFC3339Nano))
	}
	args := append([]string{
		"--rpc", hostPort(p.RPCPort), "--gossip", hostPort(p.GossipPort),
		"--data-dir", p.DataDir, "--name", p.Name,
	}, p.Args...)
	cmd := exec.Command(filepath.Join(p.c.BinDir, p.Bin), args...)
	cmd.Stdout, cmd.Stderr = log, log
	orphanGuard(cmd)
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("proccluster: starting %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.addrs, p.stopped = cmd, exited, Addrs{}, false
	go func() {
		cmd.Wait()
		log.Close()
		close(exited)
	}()
	return nil
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Proc returns the daemon named name, or fails tb.
func (c *Cluster) Proc(tb testing.TB, name string) *Proc {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	tb.Fatalf("proccluster: no daemon named %s", name)
	return nil
}

// Procs returns every daemon started so far, in start order.
func (c *Cluster) Procs() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.procs...)
}

// Kill9 sends SIGKILL to the daemon name and waits until it is gone: a crash, as the cluster
// sees it. Killing a daemon that already exited is not an error.
func (c *Cluster) Kill9(tb testing.TB, name string) {
	tb.Helper()
	p := c.Proc(tb, name)
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Fatalf("proccluster: kill -9 %s (pid %d): %v", name, cmd.Process.Pid, err)
	}
	<-exited
}

// Restart starts the daemon name again with the same flags, ports (fixed or any) and data
// directory, and waits until it serves. It kills the running process first if there is one.
func (c *Cluster) Restart(tb testing.TB, name string) *Proc {
	tb.Helper()
	p := c.Proc(tb, name)
	if p.Running() {
		c.Kill9(tb, name)
	}
	p.mu.Lock()
	p.restarts++
	err := p.launch()
	p.mu.Unlock()
	if err != nil {
		tb.Fatal(err)
	}
	p.WaitServing(tb)
	return p
}

// Stop sends SIGSTOP to the daemon name: it hangs, holding its sockets, until Cont.
func (c *Cluster) Stop(tb testing.TB, name string) {
	tb.Helper()
	c.Proc(tb, name).signal(tb, syscall.SIGSTOP)
}

// Cont sends SIGCONT to the daemon name, which Stop hung.
func (c *Cluster) Cont(tb testing.TB, name string) {
	tb.Helper()
	c.Proc(tb, name).signal(tb, syscall.SIGCONT)
}

func (p *Proc) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("proccluster: %v to %s (pid %d): %v", sig, p.Name, p.cmd.Process.Pid, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
}

// Running reports whether the daemon's current process has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// PID is the process id of the daemon's current process.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Started is when the daemon's current process was started.
func (p *Proc) Started() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Addrs are the addresses the current process wrote to addrs.json (zero before WaitServing).
func (p *Proc) Addrs() Addrs {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs
}

// WaitServing polls for the daemon's addrs.json, written by its current process (the pid
// matches: a file left by a killed process does not count), and fails tb if it does not appear
// within ServeTimeout or the daemon exits first. It returns the addresses.
func (p *Proc) WaitServing(tb testing.TB) Addrs {
	tb.Helper()
	p.mu.Lock()
	pid, exited, cmd := p.cmd.Process.Pid, p.exited, p.cmd
	p.mu.Unlock()
	path := filepath.Join(p.DataDir, "addrs.json")
	deadline := time.Now().Add(ServeTimeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			var a Addrs
			if err := json.Unmarshal(data, &a); err == nil && a.RPC != "" && a.Gossip != "" && a.PID == pid {
				p.mu.Lock()
				if p.cmd == cmd {
					p.addrs = a
				}
				p.mu.Unlock()
				return a
			}
		}
		select {
		case <-exited:
			tb.Fatalf("proccluster: %s exited before serving (%v); its log:\n%s", p.Name, cmd.ProcessState, Tail(p.LogPath, LogTailLines))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("proccluster: %s: no %s from pid %d within %v; its log:\n%s", p.Name, path, pid, ServeTimeout, Tail(p.LogPath, LogTailLines))
		}
	}
}

// Terminate stops the daemon's current process gracefully: SIGCONT (a stopped process cannot
// act on SIGTERM), SIGTERM, then SIGKILL if it is still there after StopGrace.
func (p *Proc) Terminate(tb testing.TB) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Logf("proccluster: SIGTERM %s: %v", p.Name, err)
	}
	select {
	case <-exited:
	case <-time.After(StopGrace):
		tb.Logf("proccluster: %s still running %v after SIGTERM: SIGKILL", p.Name, StopGrace)
		cmd.Process.Kill()
		<-exited
	}
}

// StopAll stops every daemon at once, so that their graceful leaves overlap.
func (c *Cluster) StopAll(tb testing.TB) {
	var wg sync.WaitGroup
	for _, p := range c.Procs() {
		wg.Go(func() { p.Terminate(tb) })
	}
	wg.Wait()
}

// PrintLogTails logs the last TailLines lines of every daemon's log (every restart of a daemon
// appends to the same log).
func (c *Cluster) PrintLogTails(tb testing.TB) {
	n := c.TailLines
	if n <= 0 {
		n = LogTailLines
	}
	for _, p := range c.Procs() {
		tb.Logf("---- last %d lines of %s (%s) ----\n%s", n, p.Name, p.LogPath, Tail(p.LogPath, n))
	}
}

// copyLogs copies every daemon's log into KeepLogsIn.
func (c *Cluster) copyLogs(tb testing.TB) {
	if err := os.MkdirAll(c.KeepLogsIn, 0o755); err != nil {
		tb.Logf("proccluster: keeping the logs: %v", err)
		return
	}
	for _, p := range c.Procs() {
		data, err := os.ReadFile(p.LogPath)
		if err == nil {
			err = os.WriteFile(filepath.Join(c.KeepLogsIn, p.Name+".log"), data, 0o644)
		}
		if err != nil {
			tb.Logf("proccluster: keeping the log of %s: %v", p.Name, err)
		}
	}
	tb.Logf("proccluster: the daemons' logs are in %s", c.KeepLogsIn)
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
