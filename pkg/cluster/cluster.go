// Package cluster is the gossip membership every dlbp daemon joins: it wraps
// hashicorp/memberlist, advertises each member's role and addresses in its
// metadata, and reports joins, leaves and metadata updates as events.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// ErrShutdown is returned by methods called after Shutdown.
var ErrShutdown = errors.New("cluster: shut down")

// Member is one live member of the cluster as this member sees it.
type Member struct {
	Name   string
	Gossip string // host:port it gossips on
	Meta   Meta
}

// Cluster is this process's membership in the gossip cluster. Its methods
// are safe for concurrent use.
type Cluster struct {
	name          string
	gossipAddr    string
	seeds         []string
	joinRetry     time.Duration
	updateTimeout time.Duration
	log           *zap.Logger
	ml            *memberlist.Memberlist

	setMu     sync.Mutex // serialises SetMeta/SetState, across UpdateNode
	metaMu    sync.Mutex // guards meta and metaBytes
	meta      Meta
	metaBytes []byte

	// members mirrors memberlist's live members with decoded metadata. It
	// is updated by the event delegate, in memberlist's order, so Members
	// and Events always agree. badMeta remembers the members whose
	// metadata failed to decode, to log that once.
	membersMu sync.Mutex
	members   map[string]Member
	badMeta   map[string]bool
	events    *eventQueue

	lifeMu   sync.Mutex // guards left and shutdown; held across memberlist's Leave
	left     bool
	shutdown bool
	leftCh   chan struct{} // closed by Leave: stop rejoining
	stopCh   chan struct{} // closed by Shutdown
	wg       sync.WaitGroup
}

// New validates cfg, starts gossiping and tries the seeds once. If no seed
// answers it still returns the Cluster: it logs a warning and keeps trying
// every cfg.JoinRetry in the background, for as long as it knows no other
// member or none of its seeds (see rejoinLoop). A seed that drops packets delays New by up to cfg.TCPTimeout.
func New(cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	mlConf, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	metaBytes, err := encodeMeta(cfg.Meta)
	if err != nil {
		return nil, err
	}

	c := &Cluster{
		name:          cfg.Name,
		seeds:         append([]string(nil), cfg.Join...),
		joinRetry:     cfg.JoinRetry,
		updateTimeout: cfg.UpdateTimeout,
		log:           cfg.Logger.With(zap.String("member", cfg.Name)),
		meta:          cfg.Meta,
		metaBytes:     metaBytes,
		members:       make(map[string]Member),
		badMeta:       make(map[string]bool),
		events:        newEventQueue(),
		leftCh:        make(chan struct{}),
		stopCh:        make(chan struct{}),
	}
	mlConf.Delegate = &delegate{c: c}
	mlConf.Events = &eventDelegate{c: c}
	mlConf.LogOutput = nil
	mlConf.Logger = newStdLogger(newLogWriter(c.log))

	// Create reports our own join through the event delegate, so every
	// field that handleNode touches is ready before it.
	ml, err := memberlist.Create(mlConf)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting memberlist on %s: %w", cfg.BindAddr, err)
	}
	c.ml = ml
	// memberlist wrote the port it bound into mlConf.BindPort.
	c.gossipAddr = net.JoinHostPort(mlConf.BindAddr, strconv.Itoa(mlConf.BindPort))

	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.events.run(c.stopCh)
	}()
	if len(c.seeds) > 0 {
		joined := c.join(false)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.rejoinLoop(!joined)
		}()
	}
	c.log.Info("cluster started", zap.String("gossip", c.gossipAddr), zap.Strings("join", c.seeds))
	return c, nil
}

// join tries every seed once, all at the same time, and reports whether this
// member now knows another one; it returns as soon as one seed answered. A
// seed that accepts connections but never answers (a stopped process) holds
// up only its own try, up to TCPTimeout, not the whole join. Failures are
// logged at Warn, unless quiet (a retry after a failure already reported),
// then at Debug.
func (c *Cluster) join(quiet bool) bool {
	type result struct {
		n   int
		err error
	}
	seeds := slices.Compact(slices.Sorted(slices.Values(c.seeds)))
	results := make(chan result, len(seeds))
	for _, seed := range seeds {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			n, err := c.ml.Join([]string{seed})
			results <- result{n, err}
		}()
	}
	var errs []error
	for range seeds {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		if r.n > 0 && c.ml.NumMembers() > 1 {
			c.log.Info("joined cluster", zap.Int("members", c.ml.NumMembers()))
			return true
		}
	}
	err := errors.Join(errs...)
	if err == nil {
		err = errors.New("no other member found")
	}
	level := zap.WarnLevel
	if quiet {
		level = zap.DebugLevel
	}
	c.log.Log(level, "joining cluster failed, will retry",
		zap.Strings("join", c.seeds), zap.Duration("retry", c.joinRetry), zap.Error(err))
	return false
}

// rejoinLoop tries the seeds again whenever this member knows no other
// member, or knows others but none of its seeds — a seed that crashed and
// came back at the same address (a restarted maplb) is alone until someone
// joins it. It runs until Leave or Shutdown.
func (c *Cluster) rejoinLoop(failing bool) {
	t := time.NewTicker(c.joinRetry)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.leftCh:
			return
		case <-c.stopCh:
			return
		}
		if c.ml.NumMembers() > 1 && (len(c.seeds) == 0 || c.knowsASeed()) {
			failing = false
			continue
		}
		failing = !c.join(true)
	}
}

// knowsASeed reports whether some member's gossip address is one of the
// seeds. Seeds given by host name (maplb:7946 in a container network) are
// resolved first; one that does not resolve counts as unknown.
func (c *Cluster) knowsASeed() bool {
	seeds := map[string]bool{}
	for _, s := range c.seeds {
		seeds[s] = true
		if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
			seeds[a.String()] = true
		}
	}
	for _, m := range c.Members() {
		if seeds[m.Gossip] && m.Name != c.name {
			return true
		}
	}
	return false
}

// handleNode records a membership change reported by memberlist and queues
// the matching event for any member other than this one. A member whose
// metadata does not decode is treated as absent: it is left out of Members
// and, if it was present, reported as leaving.
func (c *Cluster) handleNode(t EventType, n *memberlist.Node) {
	c.membersMu.Lock()
	defer c.membersMu.Unlock()

	old, known := c.members[n.Name]
	if t == EventLeave {
		if !known {
			return
		}
		delete(c.members, n.Name)
		c.publish(EventLeave, old)
		return
	}

	meta, err := decodeMeta(n.Meta) // copies: n.Meta is not kept
	if err != nil {
		if !c.badMeta[n.Name] {
			c.badMeta[n.Name] = true
			c.log.Warn("ignoring member with undecodable meta",
				zap.String("name", n.Name), zap.String("gossip", n.Address()), zap.Error(err))
		}
		if known {
			delete(c.members, n.Name)
			c.publish(EventLeave, old)
		}
		return
	}
	delete(c.badMeta, n.Name)

	m := Member{Name: n.Name, Gossip: n.Address(), Meta: meta}
	c.members[n.Name] = m
	if known {
		c.publish(EventUpdate, m)
	} else {
		c.publish(EventJoin, m)
	}
}

// publish queues an event about another member; the caller holds membersMu.
func (c *Cluster) publish(t EventType, m Member) {
	if m.Name == c.name {
		return
	}
	c.log.Debug("member event", zap.Stringer("event", t), zap.String("name", m.Name),
		zap.String("role", string(m.Meta.Role)), zap.String("state", string(m.Meta.State)))
	c.events.push(Event{Type: t, Member: m})
}

// encodedMeta returns a copy of the encoded local metadata for memberlist.
func (c *Cluster) encodedMeta(limit int) []byte {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if len(c.metaBytes) > limit { // cannot happen: SetMeta checks MetaMaxSize
		c.log.Error("meta exceeds memberlist limit", zap.Int("size", len(c.metaBytes)), zap.Int("limit", limit))
		return nil
	}
	return append([]byte(nil), c.metaBytes...)
}

// LocalName returns this member's name.
func (c *Cluster) LocalName() string { return c.name }

// GossipAddr returns the "host:port" this member's gossip is bound to, with
// the port the system picked when the configured port was 0. Other members
// see the advertised address instead when AdvertiseAddr is set.
func (c *Cluster) GossipAddr() string { return c.gossipAddr }

// Members returns the live members, this one included (until it leaves),
// sorted by name. Suspected members are included until declared dead; dead
// and departed members, and members whose metadata does not decode, are not.
func (c *Cluster) Members() []Member {
	c.membersMu.Lock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, m)
	}
	c.membersMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Events returns the joins, leaves and metadata updates of the other
// members, in the order memberlist saw them. The queue behind it is
// unbounded, so a slow reader never stalls gossip; it is closed by Shutdown,
// and events not yet read then are dropped.
func (c *Cluster) Events() <-chan Event { return c.events.out }

// SetState advertises s as this member's state, keeping the rest of its
// metadata.
func (c *Cluster) SetState(s State) error {
	return c.UpdateMeta(func(m *Meta) { m.State = s })
}

// UpdateMeta changes this member's metadata with change and gossips it, as SetMeta.
func (c *Cluster) UpdateMeta(change func(*Meta)) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.metaMu.Lock()
	m := c.meta
	c.metaMu.Unlock()
	change(&m)
	return c.setMetaLocked(m)
}

// SetMeta replaces this member's metadata and gossips it, waiting up to
// Config.UpdateTimeout for the broadcast. On a timeout the new metadata is
// still in effect and spreads by the periodic state exchange.
func (c *Cluster) SetMeta(m Meta) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return c.setMetaLocked(m)
}

func (c *Cluster) setMetaLocked(m Meta) error {
	if c.isShutdown() {
		return ErrShutdown
	}
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	c.metaMu.Lock()
	c.meta, c.metaBytes = m, b
	c.metaMu.Unlock()
	if err := c.ml.UpdateNode(c.updateTimeout); err != nil {
		return fmt.Errorf("cluster: gossiping meta update: %w", err)
	}
	return nil
}

// Leave tells the other members that this one is going, waiting up to
// timeout for the message to go out, and stops rejoining. It does not stop
// gossip: call Shutdown next. Others see an EventLeave like for a crash, so
// callers publish StateDraining first.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.shutdown {
		return ErrShutdown // memberlist panics on Leave after Shutdown
	}
	if !c.left {
		c.left = true
		close(c.leftCh)
	}
	if err := c.ml.Leave(timeout); err != nil {
		return fmt.Errorf("cluster: leaving: %w", err)
	}
	c.log.Info("left cluster")
	return nil
}

// Shutdown stops gossip without a leave message, so the others see this
// member fail, and stops the background goroutines. Events is closed when
// it returns. It is safe to call more than once.
func (c *Cluster) Shutdown() error {
	c.lifeMu.Lock()
	var err error
	if !c.shutdown {
		c.shutdown = true
		close(c.stopCh)
		if err = c.ml.Shutdown(); err != nil {
			err = fmt.Errorf("cluster: shutting down memberlist: %w", err)
		}
		c.log.Info("cluster shut down")
	}
	c.lifeMu.Unlock()
	c.wg.Wait() // a join in progress ends within TCPTimeout
	return err
}

func (c *Cluster) isShutdown() bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	return c.shutdown
}
