// Package node is the worker daemon: it runs map tasks (map, combine,
// partition into R partials kept on its disk) and reduce tasks (gather
// every map task's partial for a partition, merge, reduce, commit the part
// file), and serves its partials and parts to whoever needs them.
package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/blob"
	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/transport"
	"github.com/dlbp/dlbp/pkg/usercode"
)

// Node is a running worker.
type Node struct {
	*daemon.Base
	layout shuffle.Layout
	gather *shuffle.Gatherer
	blobs  *blob.Store       // modules and --files of user jobs, fetched from maplb
	user   *usercode.Runtime // runs user programs

	mu       sync.Mutex
	running  map[attemptKey]context.CancelFunc
	copies   map[partKey]*partCopy // parts being copied here, or copied (until forgotten)
	reduceLB map[string]string     // job → reducelb address to report parts to
	draining bool
	// The disk (disk.go): below the limit, no new task.
	diskLow             bool
	diskFree, diskLimit int64

	// dropReport, when set (tests only), loses the reports it names, as a network would.
	dropReport atomic.Pointer[func(method string, msg any) bool]

	resultsAsked map[string]time.Time // job → when maplbs were last asked of its results (outputs.go; the tick's only)

	outMu   sync.Mutex
	outputs map[string]outputJob // jobs whose map outputs are here (outputs.go)
	wg      sync.WaitGroup
	evWG    sync.WaitGroup // the membership follower
	ctx     context.Context
	cancel  context.CancelFunc
}

type attemptKey struct {
	job           string
	task, attempt int
}

type partKey struct {
	job string
	p   int
}

// partCopy is a copy of a committed part that reducelb asked of this node.
type partCopy struct {
	from     string // the reducer copied from
	cancel   context.CancelFunc
	progress atomic.Int64           // bytes copied so far
	report   *protocol.ResultCopied // once the copy ended: what was reported
}

// New builds a node from its options; gossip carries memberlist timings
// (zero values: memberlist's defaults).
func New(o daemon.Options, log *zap.Logger, gossip cluster.Config) (*Node, error) {
	b, err := daemon.NewBase(o, log, gossip)
	if err != nil {
		return nil, err
	}
	n := &Node{
		Base:         b,
		layout:       shuffle.Layout{Dir: o.DataDir},
		running:      map[attemptKey]context.CancelFunc{},
		copies:       map[partKey]*partCopy{},
		reduceLB:     map[string]string{},
		outputs:      map[string]outputJob{},
		resultsAsked: map[string]time.Time{},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	b.Metrics.Gauge("dlbp_disk_free_bytes", "Free space of the data directory's disk, as last looked at.", nil, func() float64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		return float64(n.diskFree)
	})
	if err := n.layout.SweepEarlierRun(); err != nil {
		b.Stop(context.Background())
		return nil, fmt.Errorf("removing what an earlier run left in %s: %w", o.DataDir, err)
	}
	if err := n.startUserCode(); err != nil {
		b.Stop(context.Background())
		return nil, err
	}
	n.gather = shuffle.NewGatherer(n.layout, b.Client, o.Name, log, n.partDone)
	n.gather.Runner = n.user
	// A part that travels inline is kept durably by the load balancers. (If
	// reducelb takes no more of a job inline, the part is copied to another
	// node, synced there; with no other node it has this unsynced copy.)
	n.gather.SyncAbove = protocol.InlineMax
	n.gather.Fetched = b.Metrics.Bytes.WithLabelValues("in", "partial").Add
	n.gather.Damaged = n.partialDamaged
	s := b.Server
	transport.Handle(s, protocol.MethodMapRun, n.handleRunMap)
	transport.Handle(s, protocol.MethodMapCancel, n.handleCancelMap)
	transport.Handle(s, protocol.MethodPartialRead, func(_ context.Context, r *protocol.PartialRead) (*protocol.Chunk, error) {
		if !protocol.ValidJobID(r.Job) {
			return nil, errBadJobID(r.Job)
		}
		n.namedOutputs(r.Job, "")
		return n.serveChunk("partial", n.layout.PartialPath(r.Job, r.Task, r.Attempt, r.Partition), r.Offset)
	})
	transport.Handle(s, protocol.MethodResultRead, func(_ context.Context, r *protocol.ResultRead) (*protocol.Chunk, error) {
		if !protocol.ValidJobID(r.Job) {
			return nil, errBadJobID(r.Job)
		}
		return n.serveChunk("result", n.layout.ResultPath(r.Job, r.Partition), r.Offset)
	})
	transport.Handle(s, protocol.MethodReduceAdd, n.handleReduceWork)
	transport.Handle(s, protocol.MethodResultCopy, n.handleResultCopy)
	transport.Handle(s, protocol.MethodRelay, n.ServeRelay)
	transport.Handle(s, protocol.MethodJobForget, n.handleForget)
	transport.Handle(s, protocol.MethodNodeState, func(context.Context, *protocol.Empty) (*protocol.NodeStatus, error) {
		return &protocol.NodeStatus{Running: n.Running(), Slots: o.Slots, Name: o.Name, Boot: n.Boot}, nil
	})
	return n, nil
}

func errBadJobID(id string) error {
	return transport.Errorf(transport.CodeBadRequest, "%q is not a job id", id)
}

// checkWork validates a job's description in a request before the node
// allocates or stores anything for it.
func checkWork(id string, spec *job.Spec, maps int) error {
	if !protocol.ValidJobID(id) {
		return errBadJobID(id)
	}
	if _, err := job.Lookup(spec.Job); err != nil {
		return transport.Errorf(transport.CodeBadRequest, "%v", err)
	}
	if err := spec.CheckLimits(); err != nil {
		return transport.Errorf(transport.CodeBadRequest, "job %s: %v", id, err)
	}
	if err := job.CheckMapCount(maps); err != nil {
		return transport.Errorf(transport.CodeBadRequest, "job %s: %v", id, err)
	}
	return nil
}

// serveChunk serves a chunk of a file and counts its bytes.
func (n *Node) serveChunk(what, path string, off int64) (*protocol.Chunk, error) {
	c, err := shuffle.ReadChunk(path, off)
	if errors.Is(err, fs.ErrNotExist) {
		// Said apart from other errors: asking again will not help.
		return nil, transport.Errorf(transport.CodeNotFound, "no such %s here (%s)", what, filepath.Base(path))
	}
	if err == nil {
		n.Metrics.Bytes.WithLabelValues("out", what).Add(float64(len(c.Data)))
	}
	return c, err
}

// Start serves and joins the cluster.
func (n *Node) Start() error {
	n.checkDisk()
	n.mu.Lock()
	diskLow := n.diskLow
	n.mu.Unlock()
	meta := cluster.Meta{Role: cluster.RoleNode, Slots: n.Opts.Slots, State: cluster.StateAlive, Exec: n.Opts.AllowExec, DiskLow: diskLow}
	if err := n.Base.Start(meta, n.ready, nil); err != nil {
		return err
	}
	events := n.Cluster.Events()
	n.evWG.Add(3)
	go func() {
		defer n.evWG.Done()
		daemon.Every(n.ctx, diskCheckInterval, n.checkDisk)
	}()
	go func() {
		defer n.evWG.Done()
		for ev := range events { // ends when the cluster shuts down
			n.Rejoined(ev)
		}
	}()
	go func() {
		defer n.evWG.Done()
		daemon.Every(n.ctx, gatherExpiry/4, func() {
			if gone := n.gather.Expire(gatherExpiry, time.Now()); len(gone) > 0 {
				n.Log.Info("dropped gatherings nobody asked for lately", zap.Strings("partitions", gone), zap.Duration("idle", gatherExpiry))
			}
			n.dropStaleOutputs(time.Now())
			n.dropOrphanResults(time.Now())
		})
	}()
	return nil
}

// gatherExpiry is how long a reduce partition may go unmentioned by
// reducelb before this node drops what it gathered for it (see
// shuffle.Gatherer.Expire).
const gatherExpiry = 2 * time.Minute

func (n *Node) ready() error {
	if len(n.Members(cluster.RoleMapLB)) == 0 {
		return errors.New("no maplb in the cluster")
	}
	return nil
}

// Running is how many map tasks run now.
func (n *Node) Running() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.running)
}

func (n *Node) handleRunMap(_ context.Context, r *protocol.RunMap) (*protocol.Empty, error) {
	if err := checkWork(r.Job, &r.Spec, r.Maps); err != nil {
		return nil, err
	}
	if r.Task < 0 || r.Task >= r.Maps || r.Attempt < 0 {
		return nil, transport.Errorf(transport.CodeBadRequest, "task %d attempt %d of %d", r.Task, r.Attempt, r.Maps)
	}
	k := attemptKey{r.Job, r.Task, r.Attempt}
	n.namedOutputs(r.Job, r.MapLB)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx.Err() != nil || n.draining {
		return nil, transport.Errorf(transport.CodeUnavailable, "node %s is shutting down", n.Opts.Name)
	}
	if _, dup := n.running[k]; dup {
		return &protocol.Empty{}, nil
	}
	if err := n.diskRefusal(); err != nil {
		return nil, err
	}
	if len(n.running) >= n.Opts.Slots {
		return nil, transport.Errorf(transport.CodeBusy, "node %s runs %d tasks, its slots are full", n.Opts.Name, len(n.running))
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.running[k] = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer cancel()
		defer func() {
			// A bug in a job must cost the task, not the node.
			if v := recover(); v != nil {
				n.Log.Error("map task panicked", zap.String("job", r.Job), zap.Int("task", r.Task), zap.Any("panic", v), zap.Stack("stack"))
				n.mu.Lock()
				delete(n.running, k)
				n.mu.Unlock()
				n.report(n.ctx, r.MapLB, protocol.MethodMapFailed, &protocol.MapFailed{
					Job: r.Job, Task: r.Task, Attempt: r.Attempt, Node: n.Opts.Name, Reason: fmt.Sprintf("map task panicked: %v", v),
				})
			}
		}()
		n.runMap(ctx, r, func() {
			n.mu.Lock()
			delete(n.running, k)
			n.mu.Unlock()
		})
	}()
	return &protocol.Empty{}, nil
}

func (n *Node) handleCancelMap(_ context.Context, r *protocol.CancelMap) (*protocol.Empty, error) {
	n.mu.Lock()
	if cancel, ok := n.running[attemptKey{r.Job, r.Task, r.Attempt}]; ok {
		cancel()
	}
	n.mu.Unlock()
	return &protocol.Empty{}, nil
}

// runMap runs a map attempt and reports how it ended; release frees its
// slot before the report, so the load balancer may send the next task at once.
func (n *Node) runMap(ctx context.Context, r *protocol.RunMap, release func()) {
	log := n.Log.With(zap.String("job", r.Job), zap.Int("task", r.Task), zap.Int("attempt", r.Attempt))
	start := time.Now()
	n.Metrics.TasksStarted.WithLabelValues("map").Inc()
	sizes, err := n.mapTask(ctx, r)
	release()
	n.Metrics.TaskSeconds.WithLabelValues("map").Observe(time.Since(start).Seconds())
	if ctx.Err() != nil {
		log.Info("map attempt cancelled")
		return
	}
	if err != nil {
		var rerr *job.RecordError
		permanent, user := errors.As(err, &rerr), job.IsUserError(err)
		log.Warn("map task failed", zap.Error(err), zap.Bool("permanent", permanent), zap.Bool("user_code", user))
		n.Metrics.TasksFinished.WithLabelValues("map", "failed").Inc()
		n.report(ctx, r.MapLB, protocol.MethodMapFailed, &protocol.MapFailed{
			Job: r.Job, Task: r.Task, Attempt: r.Attempt, Node: n.Opts.Name, Reason: err.Error(), Permanent: permanent, User: user,
		})
		return
	}
	done := &protocol.MapDone{
		Job: r.Job, Task: r.Task, Attempt: r.Attempt, Node: n.Opts.Name, NodeRPC: n.RPCAddr(),
		Start: start, End: time.Now(), Sizes: sizes, Running: n.Running(),
		Spec: r.Spec, MapCount: r.Maps, MapLB: r.MapLB,
	}
	log.Debug("map task done", zap.Duration("took", done.End.Sub(start)))
	n.Metrics.TasksFinished.WithLabelValues("map", "done").Inc()
	if r.ReduceLB != "" {
		// One short try: when reducelb cannot be reached now, maplb passes the report on (it
		// retries, and relays through a node when it cannot reach reducelb either), and this
		// task's slot is not held for a report.
		rctx, cancel := context.WithTimeout(ctx, mapDoneToReduceLB)
		err := n.Client.Call(rctx, r.ReduceLB, protocol.MethodMapDone, done, nil)
		cancel()
		done.ReachedReduceLB = err == nil
		if err != nil {
			log.Info("reducelb did not take the report: maplb passes it on", zap.Error(err))
		}
	}
	n.report(ctx, r.MapLB, protocol.MethodMapDone, done)
}

// mapDoneToReduceLB bounds a node's own report of a finished map task to reducelb.
const mapDoneToReduceLB = 3 * time.Second

// report sends a report, trying a few times: a load balancer that is
// restarting should still hear of the work.
func (n *Node) report(ctx context.Context, addr, method string, msg any) bool {
	if drop := n.dropReport.Load(); drop != nil && (*drop)(method, msg) {
		n.Log.Warn("report dropped (a test loses it)", zap.String("to", addr), zap.String("method", method))
		return false
	}
	var err error
	for try := 0; try < 5; try++ {
		if err = n.Client.Call(ctx, addr, method, msg, nil); err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if code := transport.CodeOf(err); code != "" && code != transport.CodeUnavailable {
			break // the peer answered: retrying will not change its mind
		}
		select {
		case <-time.After(time.Duration(100<<try) * time.Millisecond):
		case <-ctx.Done():
			return false
		}
	}
	n.Log.Warn("report not delivered", zap.String("to", addr), zap.String("method", method), zap.Error(err))
	return false
}

// DropReportsForTest makes the node lose every report drop names, as a network would lose
// it: for tests of what recovers a lost message.
func (n *Node) DropReportsForTest(drop func(method string, msg any) bool) { n.dropReport.Store(&drop) }

// mapTask runs one map attempt and writes its partials; it returns their sizes.
func (n *Node) mapTask(ctx context.Context, r *protocol.RunMap) ([]int64, error) {
	j, err := job.Lookup(r.Spec.Job)
	if err != nil {
		return nil, err
	}
	spill := filepath.Join(n.Opts.DataDir, "spill")
	if err := os.MkdirAll(spill, 0o755); err != nil {
		return nil, err
	}
	// --memory is the node's budget for map output: half of it is shared by
	// the slots' tables, the other half is room for the garbage collector
	// (a Go heap grows to about twice its live data before collecting).
	budget := n.Opts.MemoryBytes / 2 / int64(max(n.Opts.Slots, 1))
	m, err := j.NewMapper(&r.Spec, job.MapEnv{Memory: budget, TempDir: spill, Ctx: ctx, Runner: n.user, JobID: r.Job, Task: r.Task, Attempt: r.Attempt})
	if err != nil {
		return nil, err
	}
	var in io.Reader
	if !r.Input.Generated() {
		t := r.Input
		remote := shuffle.NewReader(ctx, n.Client, r.MapLB, protocol.MethodInputRead, t.Length, func(off int64) any {
			return &protocol.InputRead{Job: r.Job, Doc: t.Doc, Offset: t.Offset + off, Length: t.Length - off}
		})
		defer remote.Close()
		in = bufio.NewReaderSize(&shuffle.CountingReader{R: remote, Count: n.Metrics.Bytes.WithLabelValues("in", "input").Add}, 256<<10)
	}
	if err := m.Map(r.Input, in); err != nil {
		return nil, err
	}
	return n.writePartials(r, m)
}

// writePartials lets the mapper write its R sorted partials to temporary
// files, syncs them, and renames them into place.
func (n *Node) writePartials(r *protocol.RunMap, m job.Mapper) ([]int64, error) {
	R := r.Spec.Reducers
	files := make([]*os.File, R)
	checked := make([]*integrity.Writer, R)
	writers := make([]*job.RecordWriter, R)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	for p := range R {
		path := n.layout.PartialPath(r.Job, r.Task, r.Attempt, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(path + ".tmp")
		if err != nil {
			return nil, err
		}
		files[p] = f
		checked[p] = integrity.NewWriter(f)
		writers[p] = job.NewRecordWriter(checked[p])
	}
	if err := m.Finish(writers); err != nil {
		return nil, err
	}
	sizes := make([]int64, R)
	for p, w := range writers {
		if err := w.Flush(); err != nil {
			return nil, err
		}
		if err := checked[p].Close(); err != nil {
			return nil, err
		}
		// Not synced: a node that restarts is a new run, whose map outputs
		// count as lost and are produced again elsewhere.
		sizes[p] = w.Bytes()
	}
	for p, f := range files {
		if err := f.Close(); err != nil {
			return nil, err
		}
		if err := os.Rename(f.Name(), n.layout.PartialPath(r.Job, r.Task, r.Attempt, p)); err != nil {
			return nil, err
		}
		files[p] = nil
	}
	return sizes, nil
}

func (n *Node) handleReduceWork(_ context.Context, r *protocol.ReduceWork) (*protocol.WorkProgress, error) {
	if err := checkWork(r.Job, &r.Spec, r.Maps); err != nil {
		return nil, err
	}
	if r.Partition < 0 || r.Partition >= r.Spec.Reducers {
		return nil, transport.Errorf(transport.CodeBadRequest, "partition %d of %d, %d maps", r.Partition, r.Spec.Reducers, r.Maps)
	}
	n.mu.Lock()
	n.reduceLB[r.Job] = r.ReduceLB
	n.mu.Unlock()
	return &protocol.WorkProgress{Progress: n.gather.Add(r.Job, r.Partition, r.Spec, r.Maps, r.Partials)}, nil
}

// partDone reports a reduced partition to reducelb.
func (n *Node) partDone(jobID string, p int, size int64, err error, permanent bool) {
	n.mu.Lock()
	addr := n.reduceLB[jobID]
	n.mu.Unlock()
	log := n.Log.With(zap.String("job", jobID), zap.Int("partition", p))
	if err != nil {
		n.Metrics.TasksFinished.WithLabelValues("reduce", "failed").Inc()
		log.Warn("reduce failed", zap.Error(err))
		n.report(n.ctx, addr, protocol.MethodReduceFailed, &protocol.ReduceFailed{
			Job: jobID, Partition: p, Node: n.Opts.Name, Reason: err.Error(), Permanent: permanent, User: job.IsUserError(err),
		})
		return
	}
	log.Debug("partition reduced", zap.Int64("bytes", size))
	n.Metrics.TasksFinished.WithLabelValues("reduce", "done").Inc()
	msg := &protocol.ReduceDone{Job: jobID, Partition: p, Node: n.Opts.Name, RPC: n.RPCAddr(), Size: size, End: time.Now()}
	if size <= protocol.InlineMax {
		if data, err := os.ReadFile(n.layout.ResultPath(jobID, p)); err == nil && int64(len(data)) == size {
			msg.Inline, msg.Data = true, data
		}
	}
	n.report(n.ctx, addr, protocol.MethodReduceDone, msg)
}

// partialDamaged tells reducelb that a partial this node fetched is damaged at its holder, so
// that its map task runs again.
func (n *Node) partialDamaged(jobID string, p int, pt protocol.Partial, err error) {
	n.mu.Lock()
	addr := n.reduceLB[jobID]
	n.mu.Unlock()
	n.report(n.ctx, addr, protocol.MethodPartialDamaged, &protocol.PartialDamaged{
		Job: jobID, Partition: p, Task: pt.Task, Attempt: pt.Attempt, Holder: pt.Node, Node: n.Opts.Name, Reason: err.Error(),
	})
}

// handleResultCopy copies a committed part from the reducer that wrote it,
// so that the job's result survives the loss of that node, and reports the
// copy to reducelb. Asking again while the copy runs answers its progress; asking again once
// it ended says its report again (the first may have been lost).
func (n *Node) handleResultCopy(_ context.Context, r *protocol.ResultCopy) (*protocol.WorkProgress, error) {
	if !protocol.ValidJobID(r.Job) {
		return nil, errBadJobID(r.Job)
	}
	if r.Partition < 0 || r.Partition >= job.MaxReducers || r.Size < 0 || r.From == "" || r.FromRPC == "" || r.ReduceLB == "" {
		return nil, transport.Errorf(transport.CodeBadRequest, "copy of part %d (%d bytes) from %q at %q for %q", r.Partition, r.Size, r.From, r.FromRPC, r.ReduceLB)
	}
	k := partKey{r.Job, r.Partition}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.copies[k]; c != nil {
		if c.from == r.From {
			if c.report != nil {
				msg := c.report
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					n.report(n.ctx, r.ReduceLB, protocol.MethodResultCopied, msg)
				}()
			}
			return &protocol.WorkProgress{Progress: c.progress.Load()}, nil
		}
		c.cancel() // a copy of another reducer's part, superseded since
	}
	ctx, cancel := context.WithCancel(n.ctx)
	c := &partCopy{from: r.From, cancel: cancel}
	n.copies[k] = c
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer cancel()
		err := n.copyPart(ctx, r, c)
		if ctx.Err() != nil {
			n.mu.Lock()
			if n.copies[k] == c {
				delete(n.copies, k)
			}
			n.mu.Unlock()
			return // forgotten, or the node stops
		}
		msg := &protocol.ResultCopied{Job: r.Job, Partition: r.Partition, Node: n.Opts.Name, RPC: n.RPCAddr(), From: r.From}
		if err != nil {
			n.Log.Warn("copying a part failed", zap.String("job", r.Job), zap.Int("partition", r.Partition), zap.String("from", r.From), zap.Error(err))
			msg.Err, msg.SourceDamaged = err.Error(), integrity.IsCorrupt(err)
		}
		n.mu.Lock()
		if n.copies[k] == c {
			c.report = msg
		}
		n.mu.Unlock()
		n.report(n.ctx, r.ReduceLB, protocol.MethodResultCopied, msg)
	}()
	return &protocol.WorkProgress{}, nil
}

// copyPart streams a part from its reducer into this node's results,
// committed by rename, and checks its size.
func (n *Node) copyPart(ctx context.Context, r *protocol.ResultCopy, c *partCopy) error {
	remote := shuffle.NewReader(ctx, n.Client, r.FromRPC, protocol.MethodResultRead, r.Size, func(off int64) any {
		return &protocol.ResultRead{Job: r.Job, Partition: r.Partition, Offset: off}
	})
	defer remote.Close()
	// Not synced: the copy guards against the loss of one node (its
	// process or machine); the reducer synced the part it wrote, which
	// guards against the loss of power to all.
	size, err := shuffle.WriteFileAtomic(ctx, n.layout.ResultPath(r.Job, r.Partition), false, func(w io.Writer) error {
		counted := n.Metrics.Bytes.WithLabelValues("in", "result-copy")
		_, err := integrity.Copy(w, &shuffle.CountingReader{R: remote, Count: func(b float64) { counted.Add(b); c.progress.Add(int64(b)) }},
			fmt.Sprintf("part %d of job %s on %s", r.Partition, r.Job, r.From))
		return err
	})
	if err == nil && size != r.Size {
		os.Remove(n.layout.ResultPath(r.Job, r.Partition))
		err = fmt.Errorf("copied %d bytes of part %d, the reducer wrote %d", size, r.Partition, r.Size)
	}
	return err
}

func (n *Node) handleForget(_ context.Context, r *protocol.JobForget) (*protocol.Empty, error) {
	if !protocol.ValidJobID(r.Job) {
		return nil, errBadJobID(r.Job)
	}
	n.mu.Lock()
	for k, cancel := range n.running {
		if k.job == r.Job {
			cancel()
		}
	}
	for k, c := range n.copies {
		// A copy that ended is forgotten with its job; one under way only with the results.
		if k.job == r.Job && (r.Results || c.report != nil) {
			c.cancel()
			delete(n.copies, k)
		}
	}
	delete(n.reduceLB, r.Job)
	n.mu.Unlock()
	n.outMu.Lock()
	delete(n.outputs, r.Job)
	n.outMu.Unlock()
	n.gather.Forget(r.Job)
	err := n.layout.ForgetIntermediate(r.Job)
	if r.Results {
		err = errors.Join(err, n.layout.ForgetResults(r.Job))
	}
	if err != nil {
		return nil, fmt.Errorf("removing data of job %s: %w", r.Job, err)
	}
	return &protocol.Empty{}, nil
}

// Shutdown drains: it publishes the draining state so no new work comes,
// lets running map tasks finish (until ctx ends), leaves the cluster and
// stops.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.draining = true
	n.mu.Unlock()
	if n.Cluster != nil {
		if err := n.Cluster.SetState(cluster.StateDraining); err != nil {
			n.Log.Warn("publishing draining state", zap.Error(err))
		}
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.Log.Warn("map tasks still running at the shutdown deadline; they are lost and will run elsewhere")
	}
	n.Base.Leave(5 * time.Second)
	return n.Close()
}

// Close stops at once.
func (n *Node) Close() error {
	n.cancel()
	n.Base.StopSoon()
	n.gather.Close()
	n.wg.Wait()
	n.evWG.Wait()
	return n.user.Close(context.Background())
}
