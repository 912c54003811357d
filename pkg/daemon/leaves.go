package daemon

import (
	"context"
	"sort"
	"time"
)

// DefaultLeaveGrace is how long a load balancer waits, after gossip says a
// node left, before it treats the node's work as lost.
const DefaultLeaveGrace = 2 * time.Second

// Leaves debounces departures. Gossip may declare a live but slow member
// dead and see it refute a moment later (a flap, common on a loaded
// machine); re-running everything the member held each time would thrash.
// A departure becomes final only when the member has not come back within
// the grace period. Times come from the caller.
type Leaves struct {
	grace   time.Duration
	pending map[string]time.Time
}

// NewLeaves returns a debouncer with the given grace period.
func NewLeaves(grace time.Duration) *Leaves {
	return &Leaves{grace: grace, pending: map[string]time.Time{}}
}

// Left records that gossip reported name gone at now.
func (l *Leaves) Left(name string, now time.Time) {
	if _, ok := l.pending[name]; !ok {
		l.pending[name] = now
	}
}

// Back records that name is in the cluster again and reports whether its
// departure was still pending (a flap, now forgotten).
func (l *Leaves) Back(name string) bool {
	_, ok := l.pending[name]
	delete(l.pending, name)
	return ok
}

// Pending reports whether name's departure waits for its grace period.
func (l *Leaves) Pending(name string) bool {
	_, ok := l.pending[name]
	return ok
}

// Due returns, in name order, the members gone longer than the grace
// period; their departure is final and they are forgotten.
func (l *Leaves) Due(now time.Time) []string {
	var out []string
	for name, at := range l.pending {
		if now.Sub(at) >= l.grace {
			out = append(out, name)
			delete(l.pending, name)
		}
	}
	sort.Strings(out)
	return out
}

// Every calls f every interval until ctx ends.
func Every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}
