package node

import "time"

// DropOrphanResults runs the results sweep now, as if the clock read now.
func (n *Node) DropOrphanResults(now time.Time) { n.dropOrphanResults(now) }
