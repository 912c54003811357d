package e2e

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// interruptOnce runs dlbp with args, sends it SIGINT (Ctrl-C) once its standard error shows
// a line holding after, and returns what it wrote to standard error and its exit status.
func interruptOnce(t *testing.T, after string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "dlbp"), args...)
	cmd.Env = append(os.Environ(), "DLBP_LB=", "DLBP_SECRET_FILE=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	sc := bufio.NewScanner(stderr)
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sent := false
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if !sent && strings.Contains(sc.Text(), after) {
			cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	err = cmd.Wait()
	if !sent {
		t.Fatalf("dlbp %s never printed %q: %v\n%s", strings.Join(args, " "), after, err, seen.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return seen.String(), cmd.ProcessState.ExitCode()
}

// TestInterruptIsHonest: a job waits for a node (the cluster has none), and its progress line
// says so. The first Ctrl-C on `dlbp submit` leaves the job running, says how to follow it and
// stop it, and exits 130; `dlbp wait --cancel-on-interrupt` cancels it instead. (Before, Ctrl-C
// printed "transport: … job.wait: context canceled" and exit status 1, "the job failed", while
// the job went on.)
func TestInterruptIsHonest(t *testing.T) {
	c := newCluster(t)
	lb := c.StartFixed(t, "maplb", "maplb", "--http", "")
	addr := lb.WaitServing(t).RPC
	stderr, code := interruptOnce(t, "waiting: no live node in the cluster",
		"submit", "--lb", addr, "--job", "sum", "--param", "range=1..1000")
	t.Logf("submit, interrupted:\n%s", stderr)
	if code != 130 {
		t.Fatalf("exit status %d after Ctrl-C, want 130", code)
	}
	id := ""
	if m := regexp.MustCompile(`dlbp: job (\S+) submitted`).FindStringSubmatch(stderr); m != nil {
		id = m[1]
	}
	for _, want := range []string{"job " + id + " submitted (sum, 1 map task)", "job " + id + " goes on without this client", "dlbp wait " + id, "dlbp cancel " + id} {
		if id == "" || !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(stderr, "context canceled") || strings.Contains(stderr, "job.wait") {
		t.Errorf("stderr speaks of internals:\n%s", stderr)
	}
	if st := dlbp(t, "status", id, "--lb", addr); st.Code != 0 || !strings.Contains(string(st.Stdout), "queued") {
		t.Fatalf("after the interrupt, status: %d %s %s", st.Code, st.Stdout, st.Stderr)
	}
	stderr, code = interruptOnce(t, "waiting:", "wait", id, "--lb", addr, "--cancel-on-interrupt")
	t.Logf("wait --cancel-on-interrupt, interrupted:\n%s", stderr)
	if code != 130 || !strings.Contains(stderr, "job "+id+" cancelled") {
		t.Fatalf("exit status %d, stderr %q; want 130 and the job cancelled", code, stderr)
	}
	if st := dlbp(t, "status", id, "--lb", addr); !strings.Contains(string(st.Stdout), "cancelled") {
		t.Fatalf("after wait --cancel-on-interrupt, status: %s", st.Stdout)
	}
}
