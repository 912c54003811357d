package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	addrsTimeout  = 15 * time.Second // a daemon writes addrs.json once it serves
	stopGrace     = 10 * time.Second // SIGTERM, then SIGKILL after this
	clientTimeout = 90 * time.Second // any one dlbp command; longer is a hang
	logTailLines  = 25
)

// addrs is DATA-DIR/addrs.json, written by a daemon once it serves.
type addrs struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	RPC    string `json:"rpc"`
	Gossip string `json:"gossip"`
	HTTP   string `json:"http"`
	PID    int    `json:"pid"`
}

// proc is one daemon the test started.
type proc struct {
	name    string
	dataDir string
	logPath string
	started time.Time
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	addrs   addrs
}

// cluster is a set of daemons started by one test, stopped when it ends.
type cluster struct {
	dir   string
	procs []*proc
}

// newCluster returns an empty cluster whose daemons are all stopped, and whose logs' tails
// are printed if the test failed, when t ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir()}
	t.Cleanup(func() {
		c.stopAll(t)
		if t.Failed() {
			c.printLogTails(t)
		}
	})
	return c
}

// start starts a daemon of binary bin named name with its data directory under the cluster's
// directory; its standard output and error go to a log file there. It does not wait for it.
func (c *cluster) start(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{
		name:    name,
		dataDir: filepath.Join(c.dir, name),
		logPath: filepath.Join(c.dir, name+".log"),
		exited:  make(chan struct{}),
	}
	log, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--rpc", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--data-dir", p.dataDir, "--name", name}, args...)
	p.cmd = exec.Command(filepath.Join(binDir, bin), args...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	c.procs = append(c.procs, p)
	go func() {
		p.cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p
}

// waitServing polls for the daemon's addrs.json and fails the test if it does not appear in
// time or the daemon exits first.
func (p *proc) waitServing(t *testing.T) {
	t.Helper()
	path := filepath.Join(p.dataDir, "addrs.json")
	deadline := time.Now().Add(addrsTimeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			var a addrs
			if err := json.Unmarshal(data, &a); err == nil && a.RPC != "" && a.Gossip != "" {
				p.addrs = a
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before serving (%v); its log:\n%s", p.name, p.cmd.ProcessState, tail(p.logPath, logTailLines))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %v; its log:\n%s", p.name, path, addrsTimeout, tail(p.logPath, logTailLines))
		}
	}
}

// kill sends SIGKILL to the daemon and waits until it is gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	<-p.exited
}

// stop sends SIGTERM, then SIGKILL if the daemon is still there after stopGrace.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		t.Logf("%s still running %v after SIGTERM: SIGKILL", p.name, stopGrace)
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// stopAll stops every daemon at once, so their graceful leaves overlap.
func (c *cluster) stopAll(t *testing.T) {
	var wg sync.WaitGroup
	for _, p := range c.procs {
		wg.Go(func() { p.stop(t) })
	}
	wg.Wait()
}

func (c *cluster) printLogTails(t *testing.T) {
	for _, p := range c.procs {
		t.Logf("---- last %d lines of %s (%s) ----\n%s", logTailLines, p.name, p.logPath, tail(p.logPath, logTailLines))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
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

// result is what one dlbp command did.
type result struct {
	args   []string
	stdout []byte
	stderr []byte
	code   int
}

func (r result) String() string {
	return fmt.Sprintf("dlbp %s: exit %d, stderr:\n%s", strings.Join(r.args, " "), r.code, r.stderr)
}

// dlbp runs the client with args and returns its output and exit status. A client that does
// not exit within clientTimeout fails the test: that is a hang.
func dlbp(t *testing.T, args ...string) result {
	t.Helper()
	return dlbpIO(t, clientIO{}, args...)
}

// clientIO is what a dlbp command reads and where it writes; the zero value reads nothing and
// keeps standard output in the result.
type clientIO struct {
	stdin   io.Reader     // standard input; nil: none
	stdout  io.Writer     // standard output; nil: kept in result.stdout
	timeout time.Duration // 0: clientTimeout
}

// dlbpIO runs the client with args, its standard input and output as cio says. A client that
// does not exit within the timeout fails the test: that is a hang.
func dlbpIO(t *testing.T, cio clientIO, args ...string) result {
	t.Helper()
	timeout := cio.timeout
	if timeout == 0 {
		timeout = clientTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dlbp"), args...)
	cmd.Env = append(os.Environ(), "DLBP_LB=", "DLBP_SECRET_FILE=")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cio.stdin, &stdout, &stderr
	if cio.stdout != nil {
		cmd.Stdout = cio.stdout
	}
	err := cmd.Run()
	r := result{args: args, stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("dlbp %s: still running after %v (hang); stderr:\n%s", strings.Join(args, " "), timeout, r.stderr)
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("dlbp %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustDLBP runs the client and fails the test unless it exits 0.
func mustDLBP(t *testing.T, args ...string) result {
	t.Helper()
	return mustDLBPIO(t, clientIO{}, args...)
}

// mustDLBPIO is dlbpIO that fails the test unless the client exits 0.
func mustDLBPIO(t *testing.T, cio clientIO, args ...string) result {
	t.Helper()
	r := dlbpIO(t, cio, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// waitUntil polls cond every 50 ms until it holds or timeout passes (then the test fails with
// cond's last explanation). It returns how long it took.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sameOutput reports whether got equals want byte for byte; if not, the test fails with the
// first differing line.
func sameOutput(t *testing.T, what string, got, want []byte) bool {
	t.Helper()
	if bytes.Equal(got, want) {
		return true
	}
	g, w := lines(string(got)), lines(string(want))
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	line := func(ls []string) string {
		if i < len(ls) {
			return fmt.Sprintf("%q", ls[i])
		}
		return "(end of output)"
	}
	t.Errorf("%s: output differs from the reference at line %d (got %d bytes, want %d):\n  got:  %s\n  want: %s",
		what, i+1, len(got), len(want), line(g), line(w))
	return false
}
