package daemon

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// Probe timings: how often the load balancers ask each node's service
// whether it still runs, and how long one answer may take.
const (
	DefaultProbeInterval = 250 * time.Millisecond
	probeTimeout         = 2 * time.Second
)

// ProbeTarget is a node run to check: its name, RPC address and Boot.
type ProbeTarget struct {
	Name, RPC, Boot string
}

// NodeTargets returns the alive nodes of the cluster as probe targets.
func (b *Base) NodeTargets() []ProbeTarget {
	var out []ProbeTarget
	for _, m := range b.Members(cluster.RoleNode) {
		out = append(out, ProbeTarget{Name: m.Name, RPC: m.Meta.RPC, Boot: m.Meta.Boot})
	}
	return out
}

// ProbeVerdict says what one probe of a target found.
type ProbeVerdict int

// The verdicts. Only a refused connection or another run answering prove a
// node's process gone; a timeout proves nothing (a stopped or overloaded
// process, a cut link), and gossip and the task deadlines deal with those.
const (
	ProbeAlive   ProbeVerdict = iota // the run answered
	ProbeUnknown                     // no answer in time, or another error
	ProbeGone                        // connection refused, or another run or member answers there
)

// Probe asks t's service for its status and judges the answer.
func (b *Base) Probe(ctx context.Context, t ProbeTarget) (ProbeVerdict, string) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var st protocol.NodeStatus
	err := b.Client.Call(ctx, t.RPC, protocol.MethodNodeState, &protocol.Empty{}, &st)
	return judgeProbe(t, &st, err)
}

func judgeProbe(t ProbeTarget, st *protocol.NodeStatus, err error) (ProbeVerdict, string) {
	switch {
	case err == nil && st.Name != "" && st.Name != t.Name:
		return ProbeGone, "member " + st.Name + " answers at " + t.RPC
	case err == nil && st.Boot != "" && t.Boot != "" && st.Boot != t.Boot:
		return ProbeGone, "restarted"
	case err == nil:
		return ProbeAlive, ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProbeGone, "connection refused"
	}
	return ProbeUnknown, err.Error()
}

// WatchNodes checks the health of the service, not just of the machine:
// every interval it probes each node gossip still counts alive, and calls
// gone (at most once per run of a node) when the process is proven gone —
// a kill -9 is seen in well under a second instead of after gossip's
// failure detection and the leave grace period. It returns when ctx ends.
func (b *Base) WatchNodes(ctx context.Context, interval time.Duration, gone func(t ProbeTarget, reason string)) {
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	reported := map[string]string{} // name → the Boot reported gone
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		wg       sync.WaitGroup
	)
	defer wg.Wait()
	Every(ctx, interval, func() {
		for _, target := range b.NodeTargets() {
			mu.Lock()
			skip := inFlight[target.Name] || reported[target.Name] == target.Boot
			if !skip {
				inFlight[target.Name] = true
			}
			mu.Unlock()
			if skip {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, reason := b.Probe(ctx, target)
				mu.Lock()
				delete(inFlight, target.Name)
				if v == ProbeGone {
					reported[target.Name] = target.Boot
				}
				mu.Unlock()
				if v == ProbeGone && ctx.Err() == nil {
					gone(target, reason)
				}
			}()
		}
	})
}
