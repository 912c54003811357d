package netns

import (
	"context"
	"fmt"
	"math/rand/v2"
	stdnet "net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/transport"
)

// stallInside is set in the test's own process run again inside a namespace of its own.
const stallInside = "DLBP_NETNS_STALL_INSIDE"

// The cut lasts this long: long enough that TCP's retransmissions of what was sent during it
// have backed off to seconds apart (0.2 s, then 0.4, 0.8, 1.6, 3.2, 6.4 s).
const stallCut = 7 * time.Second

// TestStalledConnectionIsNotReused: a call sent while the link to its server is cut waits in a
// TCP stream the kernel retransmits with exponential backoff. Once the link is back, a new
// call to that server must not queue behind it (it would wait for the next retransmission,
// seconds away): it goes on a fresh connection and is answered at once. (Seen as a node that
// rejoined after a cut and took no map task for seconds: its reads of input waited.)
//
// The test runs itself again inside a network namespace of its own, where it may drop packets
// with iptables without touching the machine's network.
func TestStalledConnectionIsNotReused(t *testing.T) {
	if os.Getenv(stallInside) == "1" {
		stalledConnectionInside(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (ip netns add)")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	ns := fmt.Sprintf("dlbpstall%04x", rand.IntN(1<<16))
	if err := run(t, "ip", "netns", "add", ns); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { run(t, "ip", "netns", "del", ns) })
	must(t, "ip", "-n", ns, "link", "set", "lo", "up")
	if err := run(t, "ip", "netns", "exec", ns, "iptables", "-L", "-n"); err != nil {
		t.Skipf("iptables does not work in a network namespace here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestStalledConnectionIsNotReused$", "-test.v")
	cmd.Env = append(os.Environ(), stallInside+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // it ends with this test, whatever happens
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test inside the namespace failed: %v", err)
	}
}

type stallMsg struct {
	N int `msgpack:"n"`
}

// stalledConnectionInside is the test proper, in its namespace.
func stalledConnectionInside(t *testing.T) {
	srv := transport.NewServer(transport.ServerConfig{Logger: zap.NewNop()})
	transport.Handle(srv, "stall.echo", func(ctx context.Context, req *stallMsg) (*stallMsg, error) { return req, nil })
	l, err := stdnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	addr := l.Addr().String()
	port := strconv.Itoa(l.Addr().(*stdnet.TCPAddr).Port)
	cl := transport.NewClient(transport.ClientConfig{Logger: zap.NewNop()})
	defer cl.Close()
	call := func(n int, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var resp stallMsg
		if err := cl.Call(ctx, addr, "stall.echo", &stallMsg{N: n}, &resp); err != nil {
			return err
		}
		if resp.N != n {
			return fmt.Errorf("answer %d to call %d", resp.N, n)
		}
		return nil
	}
	if err := call(1, 5*time.Second); err != nil { // the connection is open
		t.Fatal(err)
	}

	drop := []string{"INPUT", "-p", "tcp", "--dport", port, "-j", "DROP"}
	// The call sent into the cut is still waiting when the link is back, or was given up
	// during the cut (the connection then has no call, but its stream is still stuck).
	for i, wait := range []time.Duration{40 * time.Second, 3 * time.Second} {
		t.Logf("a call of %v sent into a cut of %v", wait, stallCut)
		must(t, append([]string{"iptables", "-A"}, drop...)...)
		stuck := make(chan error, 1)
		go func() { stuck <- call(10*i+2, wait) }()
		time.Sleep(stallCut) // the fault's duration, not a wait for a condition
		must(t, append([]string{"iptables", "-D"}, drop...)...)

		start := time.Now()
		if err := call(10*i+3, 2*time.Second); err != nil {
			t.Fatalf("a call made once the link was back failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("a call made once the link was back was answered in %v", time.Since(start).Round(time.Millisecond))
		select {
		case err := <-stuck: // answered once its retransmission got through, or failed: either is fine
			t.Logf("the call sent into the cut ended: %v", err)
		case <-time.After(wait + 5*time.Second):
			t.Fatal("the call sent into the cut never ended")
		}
	}
}
