package proccluster

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
	"testing"
	"time"
)

// ClientTimeout is how long one dlbp command may run unless IO says otherwise; longer is a hang.
const ClientTimeout = 90 * time.Second

// Result is what one dlbp command did.
type Result struct {
	Args   []string
	Stdout []byte
	Stderr []byte
	Code   int // exit status
}

func (r Result) String() string {
	return fmt.Sprintf("dlbp %s: exit %d, stderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stderr)
}

// IO is what a dlbp command reads and where it writes; the zero value reads nothing and keeps
// standard output in the Result.
type IO struct {
	Stdin   io.Reader     // standard input; nil: none
	Stdout  io.Writer     // standard output; nil: kept in Result.Stdout
	Timeout time.Duration // 0: ClientTimeout
	// NoHangCheck makes a command still running at Timeout a Result with Code -1 instead of
	// failing tb (a client waiting on a load balancer that a test killed).
	NoHangCheck bool
}

// Run runs the dlbp client in binDir with args, its standard input and output as cio says,
// with $DLBP_LB and $DLBP_SECRET_FILE cleared. A client that does not exit within the timeout
// fails tb: that is a hang.
func Run(tb testing.TB, binDir string, cio IO, args ...string) Result {
	tb.Helper()
	timeout := cio.Timeout
	if timeout == 0 {
		timeout = ClientTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dlbp"), args...)
	cmd.Env = append(os.Environ(), "DLBP_LB=", "DLBP_SECRET_FILE=")
	cmd.WaitDelay = 5 * time.Second
	orphanGuard(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cio.Stdin, &stdout, &stderr
	if cio.Stdout != nil {
		cmd.Stdout = cio.Stdout
	}
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil && cio.NoHangCheck:
		r.Code = -1
	case ctx.Err() != nil:
		tb.Fatalf("dlbp %s: still running after %v (hang); stderr:\n%s", strings.Join(args, " "), timeout, r.Stderr)
	case err == nil:
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	default:
		tb.Fatalf("dlbp %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// MustRun is Run that fails tb unless the client exits 0.
func MustRun(tb testing.TB, binDir string, cio IO, args ...string) Result {
	tb.Helper()
	r := Run(tb, binDir, cio, args...)
	if r.Code != 0 {
		tb.Fatalf("%v", r)
	}
	return r
}

// DLBP runs the cluster's client with args (see Run).
func (c *Cluster) DLBP(tb testing.TB, args ...string) Result {
	tb.Helper()
	return Run(tb, c.BinDir, IO{}, args...)
}

// MustDLBP runs the cluster's client with args and fails tb unless it exits 0.
func (c *Cluster) MustDLBP(tb testing.TB, args ...string) Result {
	tb.Helper()
	return MustRun(tb, c.BinDir, IO{}, args...)
}

// Status is the part of `dlbp status JOB --json` (and of each entry of `dlbp jobs --json`)
// that the tests read.
type Status struct {
	ID        string `json:"id"`
	Job       string `json:"job"`
	Mode      string `json:"mode"`
	State     string `json:"state"`
	Error     string `json:"error"`
	MapsDone  int    `json:"maps_done"`
	MapsTotal int    `json:"maps_total"`
	Maps      []Task `json:"maps"`
	Reduces   []Task `json:"reduces"`
	Reducers  []Pick `json:"reducers"`
	Parts     []Part `json:"parts"`
}

// Part is where a committed part of a succeeded job is: its reducer and its copy, or kept by
// the load balancers (Inline).
type Part struct {
	Partition int    `json:"partition"`
	Node      string `json:"node"`
	Copy      string `json:"copy"`
	Bytes     int64  `json:"bytes"`
	Inline    bool   `json:"inline"`
}

// Task is one map or reduce task of a Status.
type Task struct {
	Task     int       `json:"task"`
	State    string    `json:"state"`
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one attempt of a Task; State is running, done, failed, lost or superseded.
type Attempt struct {
	Node   string `json:"node"`
	Start  string `json:"start"`
	End    string `json:"end"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// Pick is one reducer choice of a Status.
type Pick struct {
	Partition int    `json:"partition"`
	Node      string `json:"node"`
	Picked    string `json:"picked"`
	Reason    string `json:"reason"`
}

// Finished reports whether the job is in a final state.
func (s Status) Finished() bool {
	return s.State == "succeeded" || s.State == "failed" || s.State == "cancelled"
}

// DoneMapsOn returns how many map tasks have a done attempt on each node.
func (s Status) DoneMapsOn() map[string]int {
	out := map[string]int{}
	for _, m := range s.Maps {
		for _, a := range m.Attempts {
			if a.State == "done" {
				out[a.Node]++
			}
		}
	}
	return out
}

// RunningMapsOn returns how many map attempts are running on each node.
func (s Status) RunningMapsOn() map[string]int {
	out := map[string]int{}
	for _, m := range s.Maps {
		for _, a := range m.Attempts {
			if a.State == "running" {
				out[a.Node]++
			}
		}
	}
	return out
}

// AttemptStates counts the map and reduce attempts by state.
func (s Status) AttemptStates() map[string]int {
	out := map[string]int{}
	for _, ts := range [][]Task{s.Maps, s.Reduces} {
		for _, t := range ts {
			for _, a := range t.Attempts {
				out[a.State]++
			}
		}
	}
	return out
}

// JobStatus runs `dlbp status id --json` against lb. The error says why there is no status
// (the load balancer is down, the output does not parse); it never fails tb, so it can be
// polled while faults happen.
func (c *Cluster) JobStatus(tb testing.TB, lb, id string) (Status, error) {
	tb.Helper()
	r := Run(tb, c.BinDir, IO{Timeout: 30 * time.Second, NoHangCheck: true}, "status", id, "--lb", lb, "--json")
	if r.Code != 0 {
		return Status{}, errors.New(r.String())
	}
	var st Status
	if err := json.Unmarshal(r.Stdout, &st); err != nil {
		return Status{}, fmt.Errorf("parsing `dlbp status %s --json`: %w\n%s", id, err, r.Stdout)
	}
	return st, nil
}

// Jobs runs `dlbp jobs --json` against lb.
func (c *Cluster) Jobs(tb testing.TB, lb string) ([]Status, error) {
	tb.Helper()
	r := Run(tb, c.BinDir, IO{Timeout: 30 * time.Second, NoHangCheck: true}, "jobs", "--lb", lb, "--json")
	if r.Code != 0 {
		return nil, errors.New(r.String())
	}
	var jobs []Status
	if err := json.Unmarshal(r.Stdout, &jobs); err != nil {
		return nil, fmt.Errorf("parsing `dlbp jobs --json`: %w\n%s", err, r.Stdout)
	}
	return jobs, nil
}

// Member is one entry of `dlbp nodes --json`.
type Member struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	RPC     string `json:"rpc"`
	State   string `json:"state"`
	Running int    `json:"running"`
	Slots   int    `json:"slots"`
}

// Members runs `dlbp nodes --json` against lb; the error says why there is no list.
func (c *Cluster) Members(tb testing.TB, lb string) ([]Member, error) {
	tb.Helper()
	r := Run(tb, c.BinDir, IO{Timeout: 30 * time.Second, NoHangCheck: true}, "nodes", "--lb", lb, "--json")
	if r.Code != 0 {
		return nil, errors.New(r.String())
	}
	var ms []Member
	if err := json.Unmarshal(r.Stdout, &ms); err != nil {
		return nil, fmt.Errorf("parsing `dlbp nodes --json`: %w\n%s", err, r.Stdout)
	}
	return ms, nil
}

// AliveNodes returns the names of the members of role node that lb lists alive.
func (c *Cluster) AliveNodes(tb testing.TB, lb string) (map[string]bool, error) {
	tb.Helper()
	ms, err := c.Members(tb, lb)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range ms {
		if m.Role == "node" && m.State == "alive" {
			out[m.Name] = true
		}
	}
	return out, nil
}

// WaitUntil polls cond every 50 ms until it holds or timeout passes (then tb fails with cond's
// last explanation). It returns how long it took.
func WaitUntil(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			tb.Fatalf("%s: not within %v; last seen: %s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SameOutput reports whether got equals want byte for byte; if not, tb fails (not fatally)
// with the first differing line.
func SameOutput(tb testing.TB, what string, got, want []byte) bool {
	tb.Helper()
	if diff := FirstDiff(got, want); diff != "" {
		tb.Errorf("%s: %s", what, diff)
		return false
	}
	return true
}

// FirstDiff describes where got first differs from want, or returns "" when they are equal.
func FirstDiff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	g, w := Lines(string(got)), Lines(string(want))
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
	return fmt.Sprintf("output differs from the reference at line %d (got %d bytes, want %d):\n  got:  %s\n  want: %s",
		i+1, len(got), len(want), line(g), line(w))
}

// Lines splits s after each '\n', without the empty string that follows a final '\n'.
func Lines(s string) []string {
	ls := strings.SplitAfter(s, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// PollJob polls `dlbp status id --json` on lb every 100 ms until cond holds for the status (and
// returns it), or fails tb after timeout with cond's last explanation. A status that cannot be
// read (the load balancer is restarting) is waited through.
func (c *Cluster) PollJob(tb testing.TB, lb, id string, timeout time.Duration, what string, cond func(Status) (bool, string)) Status {
	tb.Helper()
	start := time.Now()
	for {
		st, err := c.JobStatus(tb, lb, id)
		why := ""
		if err != nil {
			why = err.Error()
		} else if ok, w := cond(st); ok {
			return st
		} else {
			why = w
		}
		if time.Since(start) > timeout {
			tb.Fatalf("job %s: %s: not within %v; last seen: %s", id, what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
