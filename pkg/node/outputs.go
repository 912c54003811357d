package node

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// Map outputs are dropped when maplb says the job is over (job.forget). A node cut off at that
// moment never hears it, so it also asks: a job whose outputs nobody named for outputIdle (no
// map task, no read of a partial) is looked up at its maplb, and its outputs go when maplb
// knows the job no more or it has ended. A maplb that does not answer keeps them.
const outputIdle = 2 * time.Minute

// outputJob is what the node knows of a job whose map outputs it holds.
type outputJob struct {
	maplb string    // the maplb that ran its map tasks here
	named time.Time // when a map task or a read of a partial named it last
}

// namedOutputs records that job's map outputs are still in use.
func (n *Node) namedOutputs(job, maplb string) {
	n.outMu.Lock()
	defer n.outMu.Unlock()
	o := n.outputs[job]
	if maplb != "" {
		o.maplb = maplb
	}
	o.named = time.Now()
	n.outputs[job] = o
}

// dropStaleOutputs drops the map outputs of jobs that ended unseen (see outputIdle).
func (n *Node) dropStaleOutputs(now time.Time) {
	entries, err := os.ReadDir(filepath.Join(n.Opts.DataDir, "maps"))
	if err != nil {
		return
	}
	for _, e := range entries {
		job := e.Name()
		n.outMu.Lock()
		o, known := n.outputs[job]
		n.outMu.Unlock()
		if known && now.Sub(o.named) < outputIdle {
			continue
		}
		if known && !n.jobOver(job, o.maplb) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.Opts.DataDir, "maps", job)); err != nil {
			n.Log.Warn("removing map outputs of an ended job", zap.String("job", job), zap.Error(err))
			continue
		}
		n.outMu.Lock()
		delete(n.outputs, job)
		n.outMu.Unlock()
		n.Log.Info("dropped the map outputs of a job that ended while nobody told this node", zap.String("job", job))
	}
}

// Results (parts and copies) are removed when maplb says the job expired (job.forget with
// Results). A node that was down or cut off at that moment never hears it, and a node back
// under a new name holds parts nobody names, so it also asks: a job whose results have not
// changed for resultsIdle is looked up at every maplb of the cluster, each resultsIdle at most,
// and its results go once every maplb answers that it does not know the job (expired or never
// seen). A maplb that does not answer, or no maplb at all, keeps them.
const resultsIdle = time.Minute

// dropOrphanResults removes the results of jobs no maplb knows any more (see resultsIdle).
func (n *Node) dropOrphanResults(now time.Time) {
	dir := filepath.Join(n.Opts.DataDir, "results")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var lbs []string
	for _, m := range n.Members(cluster.RoleMapLB) {
		lbs = append(lbs, m.Meta.RPC)
	}
	if len(lbs) == 0 {
		return
	}
	for _, e := range entries {
		job := e.Name()
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < resultsIdle || now.Sub(n.resultsAsked[job]) < resultsIdle {
			continue
		}
		n.resultsAsked[job] = now
		if !n.unknownToAll(job, lbs) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, job)); err != nil {
			n.Log.Warn("removing the results of an expired job", zap.String("job", job), zap.Error(err))
			continue
		}
		delete(n.resultsAsked, job)
		n.Log.Info("removed the results of a job no maplb knows any more", zap.String("job", job))
	}
	for job := range n.resultsAsked {
		if _, err := os.Stat(filepath.Join(dir, job)); err != nil {
			delete(n.resultsAsked, job)
		}
	}
}

// unknownToAll reports whether every maplb at lbs answers that it does not know job.
func (n *Node) unknownToAll(job string, lbs []string) bool {
	for _, lb := range lbs {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		var st protocol.JobStatus
		err := n.Client.Call(ctx, lb, protocol.MethodJobStatus, &protocol.JobRef{Job: job}, &st)
		cancel()
		if transport.CodeOf(err) != transport.CodeNotFound {
			return false // it knows the job, or did not answer
		}
	}
	return true
}

// jobOver asks maplb whether a job has ended or is unknown to it.
func (n *Node) jobOver(job, maplb string) bool {
	if maplb == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	var st protocol.JobStatus
	err := n.Client.Call(ctx, maplb, protocol.MethodJobStatus, &protocol.JobRef{Job: job}, &st)
	if err != nil {
		return transport.CodeOf(err) == transport.CodeNotFound
	}
	return protocol.Terminal(st.State)
}
