package reducelb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
)

// watch is what reducelb last heard of work it gave a node: the reduce of a partition, or the
// copy of a part. The node's answers to reducelb's check-ins carry a progress count (bytes
// moved for that work); work whose count stands still, or whose node does not answer, for
// the stall timeout goes to another node. That covers a reducer or copier wedged while its
// process still answers gossip, one reducelb cannot reach, and a report that was lost.
type watch struct {
	node  string
	value int64     // the node's progress count; -1 before its first answer
	since time.Time // when value last changed, or the watch began
}

// saw records an answer of node: a new node or a new count restarts the clock.
func (w *watch) saw(node string, v int64, now time.Time) {
	if w.node != node || w.value != v {
		*w = watch{node: node, value: v, since: now}
	}
}

// stalled reports whether the work of node has made no progress for limit; a watch of another
// node starts anew for this one.
func (w *watch) stalled(node string, now time.Time, limit time.Duration) bool {
	if w.node != node {
		*w = watch{node: node, value: -1, since: now}
	}
	return now.Sub(w.since) > limit
}

// heardReducer records a reducer's answer with its progress. r.mu is held.
func (r *ReduceLB) heardReducer(id string, p int, node string, progress int64) {
	j := r.jobs[id]
	if j == nil || !r.sched.Reducing(id, p, node) || !r.sched.OutputsKnown(id) || j.copies[p] != nil {
		return // not the reducer any more, or not every map output is known: no clock runs
	}
	j.watchOf(p).saw(node, progress, time.Now())
}

func (j *rjob) watchOf(p int) *watch {
	if j.watches == nil {
		j.watches = map[int]*watch{}
	}
	w := j.watches[p]
	if w == nil {
		w = &watch{}
		j.watches[p] = w
	}
	return w
}

// checkReducers gives up the reducers, among those refresh has just told of every partial,
// whose partition made no progress for the stall timeout: each partition goes to another node.
// r.mu is held.
func (r *ReduceLB) checkReducers(id string, j *rjob, told []sched.Fetch, now time.Time) {
	reducers := map[int]string{}
	for _, f := range told {
		reducers[f.Partition] = f.Reducer
	}
	limit := r.Opts.Stall
	for _, p := range slices.Sorted(maps.Keys(reducers)) {
		node := reducers[p]
		if j.copies[p] != nil {
			delete(j.watches, p) // reduced: its part is being copied, which checkCopies watches
			continue
		}
		if !j.watchOf(p).stalled(node, now, limit) {
			continue
		}
		reason := fmt.Sprintf("stalled: no progress for %s (no byte gathered, reduced or written, or no answer to reducelb)", limit)
		r.Log.Warn("reducer stalled: its partition goes to another node", zap.String("job", id), zap.Int("partition", p), zap.String("node", node), zap.Duration("stall_timeout", limit))
		r.Metrics.TasksRetried.WithLabelValues("reduce", "stalled").Inc()
		delete(j.watches, p)
		r.carryOut(id, r.sched.ReduceFailed(id, p, node, now, reason, sched.FaultNode))
		if r.jobs[id] == nil {
			return
		}
	}
}

// checkCopies asks each node copying a part of the job again (its answer says how far it is;
// one that ended says its report again, in case it was lost), and gives a copy that made no
// progress for the stall timeout to another node. r.mu is held.
func (r *ReduceLB) checkCopies(id string, j *rjob, now time.Time) {
	for _, p := range slices.Sorted(maps.Keys(j.copies)) {
		c := j.copies[p]
		if c.to == "" {
			continue // waiting for a round of retries (startCopy)
		}
		if c.watch.stalled(c.to, now, r.Opts.Stall) {
			r.Log.Warn("a copy of a part stalled: asking another node", zap.String("job", id), zap.Int("partition", p), zap.String("node", c.to), zap.Duration("stall_timeout", r.Opts.Stall))
			r.startCopy(id, j, p, c)
			continue
		}
		to, addr, msg := c.to, r.rpcOf[c.to], r.copyRequest(id, p, c)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			var rep protocol.WorkProgress
			if r.checkIn(addr, protocol.MethodResultCopy, msg, &rep) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if j := r.jobs[id]; j != nil && j.copies[p] == c && c.to == to {
					c.watch.saw(to, rep.Progress, time.Now())
				}
			}
		}()
	}
}

// copyRequest is the message that asks c.to to copy partition p's part.
func (r *ReduceLB) copyRequest(id string, p int, c *copying) *protocol.ResultCopy {
	return &protocol.ResultCopy{Job: id, Partition: p, From: c.done.Node, FromRPC: c.done.RPC, Size: c.done.Size, ReduceLB: r.RPCAddr()}
}

// checkIn sends a message once, waiting at most a refresh interval for the answer.
func (r *ReduceLB) checkIn(addr, method string, msg, reply any) bool {
	ctx, cancel := context.WithTimeout(r.ctx, refreshInterval)
	defer cancel()
	return r.Client.Call(ctx, addr, method, msg, reply) == nil
}
