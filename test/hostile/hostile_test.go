package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestMain checks that the daemons leave no goroutine behind. memberlist's
// probe goroutine outlives Shutdown for up to a probe interval.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

const (
	// idlePerDaemon is how many connections that never say anything each
	// daemon gets; the handshake timeout (5s, the transport default the
	// daemons use) must close them all.
	idlePerDaemon = 150
	// closeWithin bounds how long a daemon may take to hang up on a peer it
	// should refuse: the handshake timeout plus slack for a loaded machine.
	closeWithin = 15 * time.Second
	// leakMargin is how many goroutines and descriptors above the baseline
	// still count as no leak: connections between daemons that the attack's
	// job opened and the warm-up job did not.
	leakMargin = 40
)

// testSeed returns $DLBP_SEED or a fresh seed, and logs it.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DLBP_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DLBP_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (reproduce with DLBP_SEED=%d)", seed, seed)
	return seed
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open descriptors: %v", err)
	}
	return len(entries)
}

// conns keeps every hostile connection so the test can close them all.
type conns struct {
	mu  sync.Mutex
	all []net.Conn
}

func (cs *conns) dial(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	cs.all = append(cs.all, nc)
	cs.mu.Unlock()
	return nc, nil
}

func (cs *conns) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, nc := range cs.all {
		nc.Close()
	}
	cs.all = nil
}

// expectClosed reads until the daemon hangs up and fails if it has not
// within closeWithin. It returns what the daemon sent.
func expectClosed(nc net.Conn) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(closeWithin))
	var got bytes.Buffer
	_, err := io.Copy(&got, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return got.Bytes(), fmt.Errorf("connection still open %v later", closeWithin)
	}
	return got.Bytes(), nil
}

// frame returns payload with its length prefix.
func frame(payload []byte) []byte {
	var buf bytes.Buffer
	if err := protocol.WriteFrame(&buf, payload); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func request(seq uint64, method string, body []byte) []byte {
	b, err := protocol.EncodeEnvelope(&protocol.Envelope{Seq: seq, Kind: protocol.KindRequest, Method: method, Body: body})
	if err != nil {
		panic(err)
	}
	return frame(b)
}

// roundTrip sends a request and reads its response.
func roundTrip(nc net.Conn, seq uint64, method string, body []byte) (*protocol.Envelope, error) {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(request(seq, method, body)); err != nil {
		return nil, fmt.Errorf("sending %s: %w", method, err)
	}
	b, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrame)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s: %w", method, err)
	}
	env, err := protocol.DecodeEnvelope(b)
	if err != nil {
		return nil, err
	}
	if env.Seq != seq || env.Kind != protocol.KindResponse {
		return nil, fmt.Errorf("answer to %s: seq %d kind %d, want seq %d, a response", method, env.Seq, env.Kind, seq)
	}
	return env, nil
}

// attack is one hostile conversation with a daemon; it returns an error
// when the daemon does not react as it should.
type attack struct {
	name string
	run  func(cs *conns, addr string, rng *rand.Rand) error
}

// sendThenClosed sends b (half-closing after it when shut) and expects the
// daemon to hang up.
func sendThenClosed(cs *conns, addr string, b []byte, handshake, shut bool) ([]byte, error) {
	nc, err := cs.dial(addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if handshake {
		if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
	}
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		return nil, nil // the daemon hung up before reading it all: fine
	}
	if shut {
		_ = nc.(*net.TCPConn).CloseWrite()
	}
	return expectClosed(nc)
}

func helloFrame(magic string, version int) []byte {
	return frame(Encode(&protocol.Hello{Magic: magic, Version: version}))
}

// welcomeError decodes the Welcome a daemon sent before hanging up.
func welcomeError(b []byte) (string, error) {
	p, err := protocol.ReadFrame(bytes.NewReader(b), protocol.MaxHandshakeFrame)
	if err != nil {
		return "", fmt.Errorf("no welcome: %w", err)
	}
	var w protocol.Welcome
	if err := protocol.Unmarshal(p, &w); err != nil {
		return "", err
	}
	return w.Error, nil
}

func attacks() []attack {
	return []attack{
		{"random bytes", func(cs *conns, addr string, rng *rand.Rand) error {
			b := make([]byte, 1+rng.IntN(8<<10))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			_, err := sendThenClosed(cs, addr, b, false, true)
			return err
		}},
		{"random bytes after handshake", func(cs *conns, addr string, rng *rand.Rand) error {
			b := make([]byte, 1+rng.IntN(8<<10))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			_, err := sendThenClosed(cs, addr, b, true, true)
			return err
		}},
		{"truncated hello", func(cs *conns, addr string, rng *rand.Rand) error {
			h := helloFrame(protocol.Magic, protocol.Version)
			_, err := sendThenClosed(cs, addr, h[:rng.IntN(len(h))], false, true)
			return err
		}},
		{"truncated request", func(cs *conns, addr string, rng *rand.Rand) error {
			r := request(1, protocol.MethodJobList, []byte{0x80})
			_, err := sendThenClosed(cs, addr, r[:1+rng.IntN(len(r)-1)], true, true)
			return err
		}},
		{"4 GiB length prefix", func(cs *conns, addr string, rng *rand.Rand) error {
			_, err := sendThenClosed(cs, addr, []byte{0xff, 0xff, 0xff, 0xff}, rng.IntN(2) == 0, false)
			return err
		}},
		{"zero-length frame", func(cs *conns, addr string, rng *rand.Rand) error {
			_, err := sendThenClosed(cs, addr, []byte{0, 0, 0, 0}, rng.IntN(2) == 0, false)
			return err
		}},
		{"garbage envelope after handshake", func(cs *conns, addr string, rng *rand.Rand) error {
			_, err := sendThenClosed(cs, addr, frame([]byte{0xc1, 0x91, 0x91}), true, false)
			return err
		}},
		{"response from a client", func(cs *conns, addr string, rng *rand.Rand) error {
			b, _ := protocol.EncodeEnvelope(&protocol.Envelope{Seq: 9, Kind: protocol.KindResponse})
			_, err := sendThenClosed(cs, addr, frame(b), true, false)
			return err
		}},
		{"hello with the wrong magic", func(cs *conns, addr string, rng *rand.Rand) error {
			b, err := sendThenClosed(cs, addr, helloFrame("HTTP", protocol.Version), false, false)
			if err != nil {
				return err
			}
			msg, err := welcomeError(b)
			if err == nil && !strings.Contains(msg, "bad magic") {
				err = fmt.Errorf("welcome error %q, want one about the magic", msg)
			}
			return err
		}},
		{"hello with a wrong version", func(cs *conns, addr string, rng *rand.Rand) error {
			b, err := sendThenClosed(cs, addr, helloFrame(protocol.Magic, protocol.Version+1+rng.IntN(100)), false, false)
			if err != nil {
				return err
			}
			msg, err := welcomeError(b)
			if err == nil && !strings.Contains(msg, "not supported") {
				err = fmt.Errorf("welcome error %q, want one about the version", msg)
			}
			return err
		}},
		{"unknown methods", func(cs *conns, addr string, rng *rand.Rand) error {
			nc, err := cs.dial(addr)
			if err != nil {
				return err
			}
			defer nc.Close()
			if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
				return err
			}
			for seq := uint64(1); seq <= 5; seq++ {
				method := fmt.Sprintf("no.such.%d", rng.Uint32())
				env, err := roundTrip(nc, seq, method, []byte{0x80})
				if err != nil {
					return err
				}
				if env.Code != transport.CodeUnknownMethod {
					return fmt.Errorf("%s answered code %q (%s), want %q", method, env.Code, env.Error, transport.CodeUnknownMethod)
				}
			}
			return nil
		}},
		{"malformed bodies", func(cs *conns, addr string, rng *rand.Rand) error {
			nc, err := cs.dial(addr)
			if err != nil {
				return err
			}
			defer nc.Close()
			if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
				return err
			}
			bodies := MalformedBodies()
			names := slices.Sorted(maps.Keys(bodies))
			methods := AllMethods()
			for seq := uint64(1); seq <= 8; seq++ {
				method := methods[rng.IntN(len(methods))]
				name := names[rng.IntN(len(names))]
				env, err := roundTrip(nc, seq, method, bodies[name])
				if !envelopeDecodes(seq, method, bodies[name]) {
					// Not one msgpack value: the envelope around it is
					// garbage too, and the daemon hangs up.
					if err == nil {
						return fmt.Errorf("%s with body %s: answered %q, want the connection closed", method, name, env.Code)
					}
					_, err := expectClosed(nc)
					return err
				}
				// A well-formed value of the wrong shape may even decode
				// (msgpack fills a struct from an array, ignores unknown
				// keys): any answer will do, on a connection still open.
				if err != nil {
					return fmt.Errorf("body %s: %w", name, err)
				}
			}
			return nil
		}},
	}
}

// envelopeDecodes reports whether a request carrying body is a valid
// envelope, as the daemon will find.
func envelopeDecodes(seq uint64, method string, body []byte) bool {
	b, err := protocol.EncodeEnvelope(&protocol.Envelope{Seq: seq, Kind: protocol.KindRequest, Method: method, Body: body})
	if err != nil {
		return false
	}
	_, err = protocol.DecodeEnvelope(b)
	return err == nil
}

// daemonAddrs names every daemon's RPC address.
func daemonAddrs(c *testcluster.Cluster) map[string]string {
	addrs := map[string]string{
		"maplb": c.MapLB.RPCAddr(), "maplb-single": c.Single.RPCAddr(), "reducelb": c.ReduceLB.RPCAddr(),
	}
	for _, n := range c.Nodes {
		addrs[n.Opts.Name] = n.RPCAddr()
	}
	return addrs
}

// TestHostileClients attacks every daemon's RPC port with garbage, broken
// frames, bad handshakes, unknown methods, malformed bodies and idle
// connections while a legitimate wordcount runs. The job's output must be
// exact, every daemon must still serve afterwards, and once the hostile
// connections are closed the process must be back to its goroutines and
// file descriptors of before the attack.
func TestHostileClients(t *testing.T) {
	start := time.Now()
	rng := rand.New(rand.NewPCG(testSeed(t), 0x686f7374696c65))
	c := testcluster.Start(Quiet(t), 3)
	addrs := daemonAddrs(c)
	dir := t.TempDir()

	// Warm up: a first job opens the connections between daemons, so that
	// the baseline counts them.
	CheckWordCount(t, c, time.Minute)
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	t.Logf("baseline: %d goroutines, %d descriptors", baseG, baseFD)

	t.Logf("cluster up and warmed in %v", time.Since(start))
	quiet := os.Getenv("DLBP_HOSTILE_OFF") != "" // to time the job alone
	paths := WriteCorpus(t, dir, 4, 2<<20, int64(rng.Uint64()>>1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := c.Client("dlbp")
	id, err := Submit(ctx, cl, paths, 3, 32<<10)
	if err != nil {
		t.Fatalf("submitting the legitimate job: %v", err)
	}
	jobDone := make(chan struct{})
	go func() {
		defer close(jobDone)
		_, _ = cl.Wait(ctx, id, nil)
	}()

	cs := &conns{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	idle := map[string][]net.Conn{}
	for name, addr := range addrs {
		if quiet {
			break
		}
		for range idlePerDaemon {
			nc, err := cs.dial(addr)
			if err != nil {
				t.Fatalf("%s: idle connection: %v", name, err)
			}
			idle[name] = append(idle[name], nc)
		}
	}
	// In name order, so that DLBP_SEED gives each daemon the same attacks.
	for _, name := range slices.Sorted(maps.Keys(addrs)) {
		addr := addrs[name]
		if quiet {
			break
		}
		// Idle connections: the daemon must hang up on each.
		for _, nc := range idle[name] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := expectClosed(nc); err != nil {
					t.Errorf("%s: idle connection: %v", name, err)
				}
			}()
		}
		// Attacks, in a random order, until the legitimate job is done and
		// each attack ran at least twice.
		arng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			as := attacks()
			for round := 0; ; round++ {
				select {
				case <-jobDone:
					if round >= 2*len(as) {
						return
					}
				default:
				}
				a := as[arng.IntN(len(as))]
				if round < 2*len(as) {
					a = as[round%len(as)]
				}
				if err := a.run(cs, addr, arng); err != nil {
					t.Errorf("%s: %s: %v", name, a.name, err)
				}
				mu.Lock()
				counts[a.name]++
				mu.Unlock()
				time.Sleep(time.Duration(arng.IntN(20)) * time.Millisecond) // leave the job some CPU
			}
		}()
	}
	<-jobDone
	t.Logf("legitimate job done after %v", time.Since(start))
	wg.Wait()
	t.Logf("attacks done after %v: %v", time.Since(start), counts)

	CheckResult(t, ctx, cl, id, paths)
	CheckWordCount(t, c, time.Minute)
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	for name := range addrs {
		if !slices.Contains(names, name) {
			t.Errorf("nodes.list lacks %s: %v", name, names)
		}
	}

	t.Logf("checked after %v", time.Since(start))
	cs.closeAll()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= baseG+leakMargin && fd <= baseFD+leakMargin {
			t.Logf("after the attack: %d goroutines, %d descriptors", g, fd)
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 4<<20)
			t.Fatalf("leak: %d goroutines (baseline %d), %d descriptors (baseline %d) 20s after closing every hostile connection\n%s",
				g, baseG, fd, baseFD, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("took %v", time.Since(start))
}
