package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// Config configures a Cluster. Zero durations and counts take the values of
// DefaultConfig (memberlist's LAN defaults), so a caller sets only what it
// cares about.
type Config struct {
	// Name identifies the member; it must be unique in the cluster. A
	// member restarted under the same name replaces the old one.
	Name string
	// BindAddr is the gossip "host:port" (TCP and UDP on the same port).
	// The host must be an IP address, or empty for every interface. Port 0
	// picks any free port; GossipAddr reports it.
	BindAddr string
	// AdvertiseAddr, if set, is the "host:port" other members reach this
	// one at (behind NAT). Port 0 means the bound port; a non-zero port
	// needs a fixed BindAddr port, because memberlist advertises the bound
	// port when it picks one.
	AdvertiseAddr string
	// Join lists seed members "host:port". Empty means this is the first
	// member.
	Join []string
	// Meta is advertised to every member; it must encode to at most
	// memberlist.MetaMaxSize bytes. An empty State means StateAlive.
	Meta Meta
	// SecretKey, if set, is the cluster secret: gossip is encrypted with
	// AES-256 under SHA-256(SecretKey), and members without the same secret
	// never join.
	SecretKey []byte

	// ProbeInterval is how often a random member is probed for failure.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for a direct ack.
	ProbeTimeout time.Duration
	// GossipInterval is how often queued broadcasts are gossiped.
	GossipInterval time.Duration
	// SuspicionMult scales how long a suspected member has to refute
	// before it is declared dead.
	SuspicionMult int
	// PushPullInterval is how often full state is exchanged with a random
	// member (anti-entropy).
	PushPullInterval time.Duration
	// RetransmitMult scales how many times a broadcast is retransmitted.
	RetransmitMult int
	// TCPTimeout bounds a TCP exchange with another member (join,
	// push/pull, fallback probe).
	TCPTimeout time.Duration
	// DeadNodeReclaimTime is how long after a member is declared dead its
	// name may be taken by a member at another address. memberlist's
	// default (never) would refuse a member restarted on a new port.
	DeadNodeReclaimTime time.Duration
	// UpdateTimeout bounds how long SetMeta and SetState wait for the new
	// metadata to be gossiped.
	UpdateTimeout time.Duration
	// JoinRetry is how often, while this member knows no other member and
	// Join is not empty, it tries the seeds again (a node may start before
	// the maplb it joins, or outlive every other member).
	JoinRetry time.Duration

	// Logger receives the package's and memberlist's logs; nil discards.
	Logger *zap.Logger
}

// DefaultConfig returns a Config with every field set: memberlist's LAN
// timings but a 5 s push/pull (memberlist's 30 s leaves a member that
// missed a join's gossip — it happens when dead members are still counted —
// blind to the newcomer for half a minute; a full exchange costs little in
// clusters of this size), the host name as Name, gossip on 0.0.0.0:7946, a
// 1s DeadNodeReclaimTime and JoinRetry, and a no-op logger.
func DefaultConfig() Config {
	ml := memberlist.DefaultLANConfig()
	hostname, _ := os.Hostname()
	return Config{
		Name:                hostname,
		BindAddr:            net.JoinHostPort(ml.BindAddr, strconv.Itoa(ml.BindPort)),
		Meta:                Meta{State: StateAlive},
		ProbeInterval:       ml.ProbeInterval,
		ProbeTimeout:        ml.ProbeTimeout,
		GossipInterval:      ml.GossipInterval,
		SuspicionMult:       ml.SuspicionMult,
		PushPullInterval:    5 * time.Second,
		RetransmitMult:      ml.RetransmitMult,
		TCPTimeout:          ml.TCPTimeout,
		DeadNodeReclaimTime: time.Second,
		UpdateTimeout:       5 * time.Second,
		JoinRetry:           time.Second,
		Logger:              zap.NewNop(),
	}
}

// TestConfig returns DefaultConfig with fast timings, gossiping on
// 127.0.0.1 port 0, for tests in one process only: failures are detected in
// well under a second, which would cause false alarms on a real network.
func TestConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeTimeout = 25 * time.Millisecond
	c.GossipInterval = 10 * time.Millisecond
	c.SuspicionMult = 1
	c.PushPullInterval = 200 * time.Millisecond
	c.TCPTimeout = time.Second
	c.DeadNodeReclaimTime = 50 * time.Millisecond
	c.JoinRetry = 100 * time.Millisecond
	return c
}

// withDefaults returns c with its zero timings, counts, meta state and
// logger taken from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration(&c.ProbeInterval, d.ProbeInterval)
	setDuration(&c.ProbeTimeout, d.ProbeTimeout)
	setDuration(&c.GossipInterval, d.GossipInterval)
	setDuration(&c.PushPullInterval, d.PushPullInterval)
	setDuration(&c.TCPTimeout, d.TCPTimeout)
	setDuration(&c.DeadNodeReclaimTime, d.DeadNodeReclaimTime)
	setDuration(&c.UpdateTimeout, d.UpdateTimeout)
	setDuration(&c.JoinRetry, d.JoinRetry)
	if c.SuspicionMult == 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.RetransmitMult == 0 {
		c.RetransmitMult = d.RetransmitMult
	}
	if c.Meta.State == "" {
		c.Meta.State = StateAlive
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// hostPort is a parsed "host:port".
type hostPort struct {
	host string
	port int
}

// parseHostPort parses "host:port"; if ipOnly, host must be an IP address
// or empty.
func parseHostPort(s string, ipOnly bool) (hostPort, error) {
	host, sport, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, err
	}
	port, err := strconv.ParseUint(sport, 10, 16)
	if err != nil {
		return hostPort{}, fmt.Errorf("bad port %q", sport)
	}
	if ipOnly && host != "" && net.ParseIP(host) == nil {
		return hostPort{}, fmt.Errorf("host %q is not an IP address", host)
	}
	return hostPort{host: host, port: int(port)}, nil
}

// memberlistConfig validates c (already with defaults) and builds the
// memberlist configuration from it.
func (c Config) memberlistConfig() (*memberlist.Config, error) {
	if c.Name == "" {
		return nil, errors.New("cluster: name is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"probe interval", c.ProbeInterval}, {"probe timeout", c.ProbeTimeout},
		{"gossip interval", c.GossipInterval}, {"push/pull interval", c.PushPullInterval},
		{"tcp timeout", c.TCPTimeout}, {"dead node reclaim time", c.DeadNodeReclaimTime},
		{"update timeout", c.UpdateTimeout}, {"join retry", c.JoinRetry},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("cluster: negative %s %v", d.name, d.v)
		}
	}
	if c.SuspicionMult < 0 || c.RetransmitMult < 0 {
		return nil, errors.New("cluster: negative suspicion or retransmit multiplier")
	}

	bind, err := parseHostPort(c.BindAddr, true)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind address %q: %w", c.BindAddr, err)
	}
	if bind.host == "" {
		bind.host = "0.0.0.0"
	}
	for _, s := range c.Join {
		hp, err := parseHostPort(s, false)
		if err != nil {
			return nil, fmt.Errorf("cluster: join address %q: %w", s, err)
		}
		if hp.host == "" || hp.port == 0 {
			return nil, fmt.Errorf("cluster: join address %q: host and non-zero port required", s)
		}
	}

	ml := memberlist.DefaultLANConfig()
	ml.Name = c.Name
	ml.BindAddr = bind.host
	ml.BindPort = bind.port
	ml.AdvertiseAddr = ""
	ml.AdvertisePort = bind.port
	if c.AdvertiseAddr != "" {
		adv, err := parseHostPort(c.AdvertiseAddr, true)
		if err != nil || adv.host == "" {
			if err == nil {
				err = errors.New("host required")
			}
			return nil, fmt.Errorf("cluster: advertise address %q: %w", c.AdvertiseAddr, err)
		}
		if adv.port != 0 && bind.port == 0 {
			return nil, fmt.Errorf("cluster: advertise address %q: a fixed advertise port needs a fixed bind port", c.AdvertiseAddr)
		}
		ml.AdvertiseAddr = adv.host
		if adv.port != 0 {
			ml.AdvertisePort = adv.port
		}
	}

	ml.ProbeInterval = c.ProbeInterval
	ml.ProbeTimeout = c.ProbeTimeout
	ml.GossipInterval = c.GossipInterval
	ml.SuspicionMult = c.SuspicionMult
	ml.PushPullInterval = c.PushPullInterval
	ml.RetransmitMult = c.RetransmitMult
	ml.TCPTimeout = c.TCPTimeout
	ml.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	if len(c.SecretKey) > 0 {
		key := sha256.Sum256(c.SecretKey) // 32 bytes: AES-256
		ml.SecretKey = key[:]
	}
	return ml, nil
}
