package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests. Failure detection with
// TestConfig takes well under a second; the margin is for -race on a busy
// machine.
const waitTimeout = 10 * time.Second

// startMember starts a member with TestConfig on 127.0.0.1 port 0 and shuts
// it down when the test ends.
func startMember(t *testing.T, name string, meta Meta, join []string, opts ...func(*Config)) *Cluster {
	t.Helper()
	cfg := TestConfig()
	cfg.Name = name
	cfg.Meta = meta
	cfg.Join = join
	cfg.Logger = testLogger(t).Named(name)
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			t.Errorf("shutting down %s: %v", name, err)
		}
	})
	return c
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
// It returns how long it waited.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > waitTimeout {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func memberNames(c *Cluster) []string {
	var names []string
	for _, m := range c.Members() {
		names = append(names, m.Name)
	}
	return names
}

// waitMembers waits until c sees exactly the given members (sorted).
func waitMembers(t *testing.T, c *Cluster, names ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to see members %v", c.LocalName(), names), func() bool {
		return slices.Equal(memberNames(c), names)
	})
}

// member returns c's view of the member called name.
func member(t *testing.T, c *Cluster, name string) Member {
	t.Helper()
	for _, m := range c.Members() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s does not see %s; sees %v", c.LocalName(), name, memberNames(c))
	return Member{}
}

// waitEvent reads c's events, skipping others, until one of type typ about
// name that satisfies match (if not nil) arrives.
func waitEvent(t *testing.T, c *Cluster, typ EventType, name string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: events closed while waiting for %v of %s", c.LocalName(), typ, name)
			}
			if e.Type == typ && e.Member.Name == name && (match == nil || match(e)) {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: timed out after %v waiting for %v of %s", c.LocalName(), waitTimeout, typ, name)
		}
	}
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
// Another process could take it before the caller binds it; acceptable in
// a test that must know a member's address before the member starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

var (
	metaA = Meta{Role: RoleMapLB, RPC: "127.0.0.1:7070", HTTP: "127.0.0.1:8080", Mode: "dlbp", State: StateAlive}
	metaB = Meta{Role: RoleNode, RPC: "127.0.0.1:7071", Slots: 4, State: StateAlive}
	metaC = Meta{Role: RoleReduceLB, RPC: "127.0.0.1:7072", State: StateAlive}
)

// startThree starts a, b and c, b and c joining a, and waits until all
// three see each other.
func startThree(t *testing.T) (a, b, c *Cluster) {
	t.Helper()
	a = startMember(t, "a", metaA, nil)
	b = startMember(t, "b", metaB, []string{a.GossipAddr()})
	c = startMember(t, "c", metaC, []string{a.GossipAddr()})
	for _, x := range []*Cluster{a, b, c} {
		waitMembers(t, x, "a", "b", "c")
	}
	return a, b, c
}

func TestMembersSeeEachOthersMeta(t *testing.T) {
	a, b, c := startThree(t)

	want := map[string]Member{
		"a": {Name: "a", Gossip: a.GossipAddr(), Meta: metaA},
		"b": {Name: "b", Gossip: b.GossipAddr(), Meta: metaB},
		"c": {Name: "c", Gossip: c.GossipAddr(), Meta: metaC},
	}
	for _, x := range []*Cluster{a, b, c} {
		for _, m := range x.Members() {
			if m != want[m.Name] {
				t.Errorf("%s sees %+v; want %+v", x.LocalName(), m, want[m.Name])
			}
		}
	}
	e := waitEvent(t, a, EventJoin, "b", nil)
	if e.Member != want["b"] {
		t.Errorf("a's join event for b = %+v; want %+v", e.Member, want["b"])
	}
	waitEvent(t, b, EventJoin, "c", nil)
}

func TestEmptyStateMeansAlive(t *testing.T) {
	a := startMember(t, "a", Meta{Role: RoleNode}, nil)
	if got := member(t, a, "a").Meta.State; got != StateAlive {
		t.Fatalf("state = %q; want %q", got, StateAlive)
	}
}

func TestDrainingIsSeenAsUpdate(t *testing.T) {
	a, b, c := startThree(t)

	if err := b.SetState(StateDraining); err != nil {
		t.Fatal(err)
	}
	wantB := metaB
	wantB.State = StateDraining
	for _, x := range []*Cluster{a, c} {
		e := waitEvent(t, x, EventUpdate, "b", func(e Event) bool { return e.Member.Meta.State == StateDraining })
		if e.Member.Meta != wantB {
			t.Errorf("%s: update of b = %+v; want %+v", x.LocalName(), e.Member.Meta, wantB)
		}
		if got := member(t, x, "b").Meta; got != wantB {
			t.Errorf("%s: Members has b = %+v; want %+v", x.LocalName(), got, wantB)
		}
	}
	if got := member(t, b, "b").Meta.State; got != StateDraining {
		t.Errorf("b sees itself %q; want draining", got)
	}
}

func TestCrashIsSeenAsLeave(t *testing.T) {
	a, b, c := startThree(t)

	start := time.Now()
	if err := c.Shutdown(); err != nil { // no Leave: a crash to the others
		t.Fatal(err)
	}
	for _, x := range []*Cluster{a, b} {
		e := waitEvent(t, x, EventLeave, "c", nil)
		if e.Member.Meta != metaC {
			t.Errorf("%s: leave of c carries %+v; want its last meta %+v", x.LocalName(), e.Member.Meta, metaC)
		}
		waitMembers(t, x, "a", "b")
	}
	t.Logf("crash detected by both in %v", time.Since(start))
}

func TestGracefulLeaveIsSeenAsLeave(t *testing.T) {
	a := startMember(t, "a", metaA, nil)
	b := startMember(t, "b", metaB, []string{a.GossipAddr()})
	waitMembers(t, a, "a", "b")

	if err := b.SetState(StateDraining); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, EventUpdate, "b", func(e Event) bool { return e.Member.Meta.State == StateDraining })
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, EventLeave, "b", nil)
	waitMembers(t, a, "a")
}

func TestJoinRetriesUntilSeedStarts(t *testing.T) {
	seedAddr := freeAddr(t)
	n := startMember(t, "node", metaB, []string{seedAddr})
	if got := memberNames(n); !slices.Equal(got, []string{"node"}) {
		t.Fatalf("before the seed starts, node sees %v", got)
	}

	seed := startMember(t, "seed", metaA, nil, func(c *Config) { c.BindAddr = seedAddr })
	d := waitFor(t, "node to join the late seed", func() bool { return len(n.Members()) == 2 })
	waitMembers(t, seed, "node", "seed")
	t.Logf("joined %v after the seed started", d)
}

func TestRestartedMemberOnNewPortIsAccepted(t *testing.T) {
	a := startMember(t, "a", metaA, nil)
	b := startMember(t, "b", metaB, []string{a.GossipAddr()})
	waitMembers(t, a, "a", "b")
	oldAddr := b.GossipAddr()

	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, "a")

	meta2 := metaB
	meta2.RPC = "127.0.0.1:7171"
	b2 := startMember(t, "b", meta2, []string{a.GossipAddr()})
	if b2.GossipAddr() == oldAddr {
		t.Fatalf("restarted member got the old address %s", oldAddr)
	}
	e := waitEvent(t, a, EventJoin, "b", func(e Event) bool { return e.Member.Gossip == b2.GossipAddr() })
	if e.Member.Meta != meta2 {
		t.Errorf("join of restarted b carries %+v; want %+v", e.Member.Meta, meta2)
	}
	waitMembers(t, a, "a", "b")
	waitMembers(t, b2, "a", "b")
	if got := member(t, a, "b").Gossip; got != b2.GossipAddr() {
		t.Errorf("a sees b at %s; want %s", got, b2.GossipAddr())
	}
}

func TestSecretKeepsOutsidersOut(t *testing.T) {
	secret := func(s string) func(*Config) {
		return func(c *Config) { c.SecretKey = []byte(s) }
	}
	a := startMember(t, "a", metaA, nil, secret("the secret"))
	b := startMember(t, "b", metaB, []string{a.GossipAddr()}, secret("the secret"))
	waitMembers(t, a, "a", "b")
	waitMembers(t, b, "a", "b")

	wrong := startMember(t, "wrong", metaC, []string{a.GossipAddr()}, secret("another secret"))
	plain := startMember(t, "plain", metaC, []string{a.GossipAddr()})

	// A negative can only be checked for a while. One second is 20 probe
	// intervals, 5 push/pull intervals and 10 join retries of each
	// outsider, any of which would let it in if its key were accepted;
	// b, with the right key, got in within milliseconds. Checking that a
	// and b still see each other shows that gossip was working meanwhile.
	const window = time.Second
	for start := time.Now(); time.Since(start) < window; time.Sleep(10 * time.Millisecond) {
		for _, c := range []struct {
			c    *Cluster
			want []string
		}{
			{a, []string{"a", "b"}}, {b, []string{"a", "b"}},
			{wrong, []string{"wrong"}}, {plain, []string{"plain"}},
		} {
			if got := memberNames(c.c); !slices.Equal(got, c.want) {
				t.Fatalf("%s sees %v; want %v", c.c.LocalName(), got, c.want)
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "bind address"},
		{"bind to a host name", func(c *Config) { c.BindAddr = "localhost:0" }, "not an IP address"},
		{"bind port out of range", func(c *Config) { c.BindAddr = "127.0.0.1:70000" }, "bad port"},
		{"join without port", func(c *Config) { c.Join = []string{"127.0.0.1"} }, "join address"},
		{"join port 0", func(c *Config) { c.Join = []string{"127.0.0.1:0"} }, "non-zero port"},
		{"advertise port with bind port 0", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:9000" }, "fixed bind port"},
		{"advertise host name", func(c *Config) { c.AdvertiseAddr = "example.com:9000" }, "not an IP address"},
		{"negative probe interval", func(c *Config) { c.ProbeInterval = -time.Second }, "negative probe interval"},
		{"meta too large", func(c *Config) { c.Meta.RPC = strings.Repeat("x", 600) }, "meta encodes to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := TestConfig()
			cfg.Name = "x"
			tc.modify(&cfg)
			c, err := New(cfg)
			if err == nil {
				_ = c.Shutdown()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cluster: ") {
				t.Fatalf("err = %q; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMetaTooLargeIsRejected(t *testing.T) {
	cfg := TestConfig()
	cfg.Name = "big"
	cfg.Meta = Meta{Role: RoleNode, RPC: strings.Repeat("x", 600)}
	if _, err := New(cfg); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New: err = %v; want ErrMetaTooLarge", err)
	}

	a := startMember(t, "a", metaA, nil)
	big := metaA
	big.HTTP = strings.Repeat("x", 600)
	if err := a.SetMeta(big); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("SetMeta: err = %v; want ErrMetaTooLarge", err)
	}
	if got := member(t, a, "a").Meta; got != metaA {
		t.Fatalf("meta after a rejected SetMeta = %+v; want unchanged %+v", got, metaA)
	}
}

func TestShutdownIsIdempotentAndClosesEvents(t *testing.T) {
	a := startMember(t, "a", metaA, nil)
	b := startMember(t, "b", metaB, []string{a.GossipAddr()})
	waitMembers(t, a, "a", "b")
	// a's events are not read: a pending event must not hold up Shutdown.

	for range 2 {
		if err := a.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case e, ok := <-a.Events():
		if ok {
			t.Fatalf("event %+v after Shutdown; want a closed channel", e)
		}
	default:
		t.Fatal("Events not closed after Shutdown")
	}
	if err := a.SetState(StateDraining); !errors.Is(err, ErrShutdown) {
		t.Errorf("SetState after Shutdown: err = %v; want ErrShutdown", err)
	}
	if err := a.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: err = %v; want ErrShutdown", err)
	}
	waitMembers(t, b, "b")
}
