package cluster

import "github.com/hashicorp/memberlist"

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*eventDelegate)(nil)
)

// delegate gives memberlist our metadata. We gossip nothing else: job data
// and RPCs travel over our own connections.
type delegate struct {
	c *Cluster
}

func (d *delegate) NodeMeta(limit int) []byte                  { return d.c.encodedMeta(limit) }
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// eventDelegate forwards memberlist's membership notifications. memberlist
// calls it with its node lock held, so it must neither block nor call back
// into memberlist.
type eventDelegate struct {
	c *Cluster
}

func (e *eventDelegate) NotifyJoin(n *memberlist.Node)   { e.c.handleNode(EventJoin, n) }
func (e *eventDelegate) NotifyLeave(n *memberlist.Node)  { e.c.handleNode(EventLeave, n) }
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { e.c.handleNode(EventUpdate, n) }
