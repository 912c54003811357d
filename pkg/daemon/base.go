package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/transport"
)

func randomSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewLogger builds the zap logger the options ask for.
func NewLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	cfg := zap.NewProductionConfig()
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	return cfg.Build()
}

// Base is the part every daemon has: an RPC server on its listener, a
// client for calls to other daemons, gossip membership, and HTTP health.
type Base struct {
	Opts    Options
	Log     *zap.Logger
	Server  *transport.Server
	Client  *transport.Client
	Cluster *cluster.Cluster
	Metrics *Metrics
	// Gossip overrides memberlist timings (tests use fast ones).
	Gossip cluster.Config
	// Boot identifies this run of the process (cluster.Meta.Boot).
	Boot string

	rpcL    net.Listener
	httpL   net.Listener
	http    *http.Server
	ready   func() error
	wg      sync.WaitGroup
	once    sync.Once
	stopped chan struct{} // closed by Stop

	cutMu  sync.Mutex
	cutLBs map[string]time.Time // load balancers found out of reach lately (relay.go)
}

// NewBase opens the daemon's RPC listener (so its address is known before
// it joins) and prepares its server and client. Handlers are registered on
// Server before Start.
//
// Nothing is created on disk until the addresses are known to be free: a daemon that cannot
// start (a port in use) leaves no data directory behind.
func NewBase(o Options, log *zap.Logger, gossip cluster.Config) (*Base, error) {
	l, err := net.Listen("tcp", o.RPC)
	if err != nil {
		return nil, fmt.Errorf("rpc listen on %s: %w", o.RPC, err)
	}
	if err := gossipFree(o.Gossip); err != nil {
		l.Close()
		return nil, err
	}
	b := &Base{
		Opts: o, Log: log, rpcL: l, Gossip: gossip, Metrics: NewMetrics(), stopped: make(chan struct{}),
		Boot:   randomSuffix() + randomSuffix(),
		Server: transport.NewServer(transport.ServerConfig{Secret: o.Secret, TLS: o.ServerTLS, Logger: log.Named("rpc")}),
		Client: transport.NewClient(transport.ClientConfig{Secret: o.Secret, TLS: o.ClientTLS, Logger: log.Named("rpc-client")}),
	}
	if o.HTTP != "" {
		if b.httpL, err = net.Listen("tcp", o.HTTP); err != nil {
			l.Close()
			return nil, fmt.Errorf("http listen on %s: %w", o.HTTP, err)
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		l.Close()
		if b.httpL != nil {
			b.httpL.Close()
		}
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return b, nil
}

// gossipFree checks that the gossip address (TCP and UDP, as memberlist binds it) is free now,
// so that a start that would fail there fails before anything is created. Port 0 is always free.
func gossipFree(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		return nil
	}
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gossip listen on %s: %w", addr, err)
	}
	t.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("gossip listen on %s: %w", addr, err)
	}
	u.Close()
	return nil
}

// RPCAddr is the address the RPC server listens on.
func (b *Base) RPCAddr() string { return b.rpcL.Addr().String() }

// HTTPAddr is the address of the HTTP server, or "".
func (b *Base) HTTPAddr() string {
	if b.httpL == nil {
		return ""
	}
	return b.httpL.Addr().String()
}

// Start serves RPC and HTTP and joins the cluster advertising meta. ready
// tells /readyz whether the service (not just the process) can do work;
// mux may add routes to the HTTP server.
func (b *Base) Start(meta cluster.Meta, ready func() error, mux *http.ServeMux) error {
	b.ready = ready
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.Server.Serve(b.rpcL); err != nil && !errors.Is(err, transport.ErrServerClosed) {
			b.Log.Error("rpc server stopped", zap.Error(err))
		}
	}()
	if b.httpL != nil {
		if mux == nil {
			mux = http.NewServeMux()
		}
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", b.serveReady)
		mux.Handle("/metrics", b.Metrics.Handler())
		// Profiles, for finding where the time goes (`go tool pprof
		// http://HOST:PORT/debug/pprof/profile`).
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		b.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := b.http.Serve(b.httpL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.Log.Error("http server stopped", zap.Error(err))
			}
		}()
	}
	meta.RPC, meta.HTTP = b.RPCAddr(), b.HTTPAddr()
	meta.Boot = b.Boot
	cc := b.Gossip
	cc.Name, cc.BindAddr, cc.Join, cc.Meta = b.Opts.Name, b.Opts.Gossip, b.Opts.Join, meta
	// A daemon restarted on its data directory also tries the members it
	// knew: a maplb that is its cluster's seed has no --join, and the others
	// would otherwise not hear of its new run until their next push/pull.
	cc.Join = append(append([]string(nil), cc.Join...), b.knownPeers()...)
	cc.SecretKey = b.Opts.Secret
	cc.Logger = b.Log.Named("gossip")
	c, err := cluster.New(cc)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	b.Cluster = c
	if fixed, ok := b.advertised(meta); ok {
		// Listening on every interface: peers must dial the address the
		// cluster knows this member by, not 0.0.0.0 or [::].
		if err := c.SetMeta(fixed); err != nil {
			return fmt.Errorf("gossip: advertising %s: %w", fixed.RPC, err)
		}
	}
	b.gossipGauges()
	b.wg.Add(1)
	go b.rememberPeers()
	fields := []zap.Field{zap.String("rpc", b.RPCAddr()), zap.String("gossip", c.GossipAddr()), zap.String("data_dir", b.Opts.DataDir)}
	if h := b.HTTPAddr(); h != "" {
		fields = append(fields, zap.String("http", "http://"+h+"/"))
	}
	b.Log.Info("serving", fields...)
	return b.writeAddrs()
}

// peersFile keeps the gossip addresses of the members last seen.
func (b *Base) peersFile() string { return filepath.Join(b.Opts.DataDir, "peers.json") }

// knownPeers returns the gossip addresses remembered from an earlier run.
func (b *Base) knownPeers() []string {
	data, err := os.ReadFile(b.peersFile())
	if err != nil {
		return nil
	}
	var peers []string
	if json.Unmarshal(data, &peers) != nil {
		return nil
	}
	return peers
}

// rememberPeers writes the other members' gossip addresses to the data
// directory when they change (checked five times a second), for a later
// restart.
func (b *Base) rememberPeers() {
	defer b.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var last string
	for {
		select {
		case <-t.C:
		case <-b.stopped:
			return
		}
		var peers []string
		for _, m := range b.Cluster.Members() {
			if m.Name != b.Opts.Name {
				peers = append(peers, m.Gossip)
			}
		}
		if len(peers) == 0 {
			continue
		}
		sort.Strings(peers)
		data, _ := json.Marshal(peers)
		if string(data) == last {
			continue
		}
		tmp := b.peersFile() + ".tmp"
		if os.WriteFile(tmp, data, 0o644) == nil && os.Rename(tmp, b.peersFile()) == nil {
			last = string(data)
		}
	}
}

// advertised replaces unspecified hosts (0.0.0.0, ::) in the RPC and HTTP
// addresses of meta with the host this member advertises for gossip.
func (b *Base) advertised(meta cluster.Meta) (cluster.Meta, bool) {
	var self string
	for _, m := range b.Cluster.Members() {
		if m.Name == b.Opts.Name {
			self, _, _ = net.SplitHostPort(m.Gossip)
		}
	}
	changed := false
	fix := func(addr string) string {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || self == "" {
			return addr
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			changed = true
			return net.JoinHostPort(self, port)
		}
		return addr
	}
	meta.RPC = fix(meta.RPC)
	if meta.HTTP != "" {
		meta.HTTP = fix(meta.HTTP)
	}
	return meta, changed
}

// gossipGauges reports the cluster as this member sees it.
func (b *Base) gossipGauges() {
	b.Metrics.Gauge("dlbp_gossip_members", "Members this daemon sees in the gossip cluster.", nil, func() float64 {
		return float64(len(b.Cluster.Members()))
	})
	for _, st := range []cluster.State{cluster.StateAlive, cluster.StateDraining} {
		b.Metrics.Gauge("dlbp_nodes", "Worker nodes this daemon sees, by state.", map[string]string{"state": string(st)}, func() float64 {
			n := 0
			for _, m := range b.Members(cluster.RoleNode) {
				if m.Meta.State == st {
					n++
				}
			}
			return float64(n)
		})
	}
}

func (b *Base) serveReady(w http.ResponseWriter, _ *http.Request) {
	err := error(nil)
	if b.Cluster == nil {
		err = errors.New("not in the cluster yet")
	} else if b.ready != nil {
		err = b.ready()
	}
	if err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Addrs is what a daemon writes to DATA-DIR/addrs.json once it serves, so
// scripts that start it on port 0 learn its addresses.
type Addrs struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	RPC    string `json:"rpc"`
	Gossip string `json:"gossip"`
	HTTP   string `json:"http,omitempty"`
	PID    int    `json:"pid"`
}

func (b *Base) writeAddrs() error {
	a := Addrs{Name: b.Opts.Name, Role: string(b.Opts.Role), RPC: b.RPCAddr(), Gossip: b.Cluster.GossipAddr(), HTTP: b.HTTPAddr(), PID: os.Getpid()}
	data, _ := json.MarshalIndent(a, "", "  ")
	path := filepath.Join(b.Opts.DataDir, "addrs.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Rejoined handles a membership event for the RPC client: a member that
// joins (again: it may have been cut off and back) gets fresh connections.
func (b *Base) Rejoined(ev cluster.Event) {
	if ev.Type == cluster.EventJoin && ev.Member.Meta.RPC != "" {
		b.Client.Reset(ev.Member.Meta.RPC)
	}
}

// Members returns the alive members of a role.
func (b *Base) Members(role cluster.Role) []cluster.Member {
	var out []cluster.Member
	for _, m := range b.Cluster.Members() {
		if m.Meta.Role == role {
			out = append(out, m)
		}
	}
	return out
}

// Leave publishes draining and leaves the cluster.
func (b *Base) Leave(timeout time.Duration) {
	if b.Cluster == nil {
		return
	}
	if err := b.Cluster.SetState(cluster.StateDraining); err != nil {
		b.Log.Warn("publishing draining state", zap.Error(err))
	}
	if err := b.Cluster.Leave(timeout); err != nil {
		b.Log.Warn("leaving the cluster", zap.Error(err))
	}
}

// StopSoon is Stop with two seconds for in-flight requests: what a
// daemon's Close does.
func (b *Base) StopSoon() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b.Stop(ctx)
}

// Stop shuts everything down: gossip, then the servers (in-flight requests
// finish until ctx ends), then the client.
func (b *Base) Stop(ctx context.Context) {
	b.once.Do(func() {
		close(b.stopped)
		if b.Cluster != nil {
			b.Cluster.Shutdown()
		}
		if err := b.Server.Shutdown(ctx); err != nil {
			b.Server.Close()
		}
		if b.http != nil {
			if err := b.http.Shutdown(ctx); err != nil {
				b.http.Close()
			}
		}
		b.rpcL.Close()
		b.wg.Wait()
		b.Client.Close()
	})
}
