package shuffle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// PartDone is called once a partition is reduced and committed (err nil,
// size the part's bytes) or could not be (permanent: the data itself is
// bad, trying elsewhere cannot help).
type PartDone func(job string, p int, size int64, err error, permanent bool)

// Gatherer collects, for each partition it reduces, one partial per map
// task — fetched from the node that holds it, straight to this process —
// and once it has them all, merges and reduces them into the part file.
type Gatherer struct {
	layout   Layout
	client   *transport.Client
	self     string // this daemon's name: its own partials are read locally
	log      *zap.Logger
	onDone   PartDone
	fetchers chan struct{}

	// Fetched, when set, is told the bytes of every partial fetched from
	// another process (not those read from this one's own disk).
	Fetched func(float64)
	// SyncAbove is the size above which a part is synced before its
	// commit; a node's parts up to protocol.InlineMax travel inline to the
	// load balancers, which keep them durably, and need no sync of their
	// own. Zero syncs every part.
	SyncAbove int64
	// Runner runs the reducers of user jobs; nil where none can run.
	Runner job.Runner
	// Damaged, when set, is told of a partial that could not be fetched, every try: it failed
	// its check, its holder no longer has it, or the holder cannot be reached from here (a
	// link cut between the two only: the load balancers still see the holder alive). Its map
	// task must run again, elsewhere; the new output comes with a later Add.
	Damaged func(job string, p int, pt protocol.Partial, err error)

	mu    sync.Mutex
	parts map[partKey]*gathering
	// unreachable holds the holders (by RPC address) a fetch could not reach lately: the other
	// fetches from them fail at once, and their map tasks run again elsewhere, instead of each
	// waiting out its own timeouts.
	unreachable map[string]unreachableHolder
	wg          sync.WaitGroup
}

// unreachableHolder is when, and why, a holder could not be reached.
type unreachableHolder struct {
	at  time.Time
	err error
}

// unreachableFor is how long a holder found out of reach stays so for the other fetches.
const unreachableFor = 30 * time.Second

// holderDown returns why the holder at addr was out of reach lately, or nil.
func (g *Gatherer) holderDown(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u, ok := g.unreachable[addr]; ok && time.Since(u.at) < unreachableFor {
		return u.err
	}
	return nil
}

// outOfReach reports whether a fetch failed on the way to its holder (the transport: no
// answer, no connection), not by an answer of the holder, damaged data, this node's own disk
// or the end of the fetch.
func outOfReach(ctx context.Context, err error) bool {
	var re *transport.RemoteError
	return err != nil && ctx.Err() == nil && !errors.As(err, &re) && !integrity.IsCorrupt(err) && !localFailure(err)
}

// localFailure reports whether err is a failure of this node's own files (creating, writing,
// syncing or renaming the gathered copy: a full or failing disk).
func localFailure(err error) bool {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	return errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO)
}

// advance adds n bytes to the gathering's progress.
func (st *gathering) advance(n float64) { st.progress.Add(int64(n)) }

// countingWriter tells count how many bytes each Write took.
type countingWriter struct {
	w     io.Writer
	count func(float64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count(float64(n))
	return n, err
}

type partKey struct {
	job string
	p   int
}

type gathering struct {
	spec      job.Spec
	maps      int
	have      map[int]bool
	fetching  map[int]context.CancelFunc // fetches in flight, by task
	latest    map[int]protocol.Partial   // newest location heard of, per task
	started   bool                       // reduce started
	attempts  int                        // reduces started here, for DLBP_ATTEMPT
	refetched int                        // gathered copies found damaged and fetched again
	reduced   bool                       // part committed
	size      int64                      // of the committed part
	news      time.Time                  // when an Add last named this partition
	progress  atomic.Int64               // bytes gathered, reduced and written: see Add
	ctx       context.Context
	cancel    context.CancelFunc
}

// NewGatherer returns a gatherer that fetches with client, keeps files
// under layout, and reports each finished partition to onDone.
func NewGatherer(layout Layout, client *transport.Client, self string, log *zap.Logger, onDone PartDone) *Gatherer {
	return &Gatherer{
		layout: layout, client: client, self: self, log: log, onDone: onDone,
		fetchers: make(chan struct{}, 4),
		parts:    map[partKey]*gathering{},
	}
}

// Add makes this gatherer reduce partition p of a job (if it does not
// already) and fetch the partials named, skipping those it has or fetches. It returns the
// partition's progress: a count that grows with every byte gathered, read by the reduce or
// written to the part, so that whoever asks again can tell a reducer at work from one stuck.
func (g *Gatherer) Add(jobID string, p int, spec job.Spec, maps int, partials []protocol.Partial) (progress int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := partKey{jobID, p}
	st, ok := g.parts[k]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		st = &gathering{spec: spec, maps: maps, have: map[int]bool{}, fetching: map[int]context.CancelFunc{}, latest: map[int]protocol.Partial{}, ctx: ctx, cancel: cancel}
		g.parts[k] = st
	}
	st.news = time.Now()
	defer func() { progress = st.progress.Load() }()
	if st.reduced {
		// The part is committed but whoever asks again did not hear of it
		// (reducelb restarted): say it again.
		size := st.size
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.onDone(jobID, p, size, nil, false)
		}()
		return progress
	}
	g.log.Debug("partials to gather", zap.String("job", jobID), zap.Int("partition", p), zap.Int("partials", len(partials)), zap.Int("have", len(st.have)))
	for _, pt := range partials {
		if pt.Task < 0 || pt.Task >= st.maps {
			continue
		}
		// A task run again elsewhere (its first node was lost) is fetched
		// from the new place: a fetch in flight from the old one, which may
		// hang on a cut link until its deadline, is cancelled. News older
		// than what was heard last (lower Seq: delayed while this node was
		// stopped, or by a retry) is ignored.
		if old, ok := st.latest[pt.Task]; ok && old != pt {
			if pt.Seq < old.Seq {
				continue
			}
			if cancel := st.fetching[pt.Task]; cancel != nil {
				cancel()
			}
		}
		st.latest[pt.Task] = pt
		g.startFetch(k, st, pt.Task)
	}
	g.maybeReduce(k, st)
	return progress
}

// startFetch fetches the newest known partial of task unless it is here or
// on its way. g.mu is held.
func (g *Gatherer) startFetch(k partKey, st *gathering, task int) {
	if st.have[task] || st.fetching[task] != nil {
		return
	}
	ctx, cancel := context.WithCancel(st.ctx)
	st.fetching[task] = cancel
	g.wg.Add(1)
	go g.fetch(ctx, k, st, st.latest[task])
}

// maybeReduce starts the reduce once every partial is here. g.mu is held.
func (g *Gatherer) maybeReduce(k partKey, st *gathering) {
	if st.started || len(st.have) < st.maps {
		return
	}
	st.started = true
	st.attempts++
	g.wg.Add(1)
	go g.reduce(k, st)
}

// Retry reduces partition p again once its partials are here (its last
// attempt failed, and the caller gives it another).
func (g *Gatherer) Retry(jobID string, p int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := partKey{jobID, p}
	if st, ok := g.parts[k]; ok && !st.reduced {
		g.maybeReduce(k, st)
	}
}

func (g *Gatherer) fetch(ctx context.Context, k partKey, st *gathering, pt protocol.Partial) {
	defer g.wg.Done()
	g.log.Debug("fetching partial", zap.String("job", k.job), zap.Int("partition", k.p), zap.Int("task", pt.Task), zap.Int("attempt", pt.Attempt), zap.String("from", pt.Node))
	err := ctx.Err()
	select {
	case g.fetchers <- struct{}{}:
		for try := 0; try < 3; try++ {
			// A fetch cancelled while it waited for its turn (the
			// partition was dropped) must not make the directory again.
			if err = ctx.Err(); err != nil {
				break
			}
			if pt.Node != g.self {
				if down := g.holderDown(pt.RPC); down != nil {
					err = fmt.Errorf("%s was out of reach a moment ago: %w", pt.Node, down)
					break
				}
			}
			err = g.fetchOnce(ctx, k, st, pt)
			if err == nil || ctx.Err() != nil || transport.CodeOf(err) == transport.CodeNotFound {
				break // done, or not there to fetch: the map runs again elsewhere
			}
			select {
			case <-time.After(time.Duration(100<<try) * time.Millisecond):
			case <-ctx.Done():
			}
		}
		<-g.fetchers
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if localFailure(err) && ctx.Err() == nil && g.parts[k] == st {
		// This node's own disk cannot keep the partial (full, failing): not the holder's
		// fault. The partition is given up here, what it gathered removed, and the failure
		// reported, so that it is reduced elsewhere.
		g.log.Warn("cannot keep a fetched partial on this node's disk: giving the partition up here", zap.String("job", k.job),
			zap.Int("partition", k.p), zap.Int("task", pt.Task), zap.Error(err))
		delete(g.parts, k)
		st.cancel()
		os.RemoveAll(filepath.Dir(g.layout.GatherPath(k.job, k.p, 0)))
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.onDone(k.job, k.p, 0, fmt.Errorf("this node cannot keep the partials: %w", err), false)
		}()
		return
	}
	if pt.Node != g.self && outOfReach(ctx, err) {
		if u, known := g.unreachable[pt.RPC]; !known || time.Since(u.at) >= unreachableFor { // a real try failed
			if g.unreachable == nil {
				g.unreachable = map[string]unreachableHolder{}
			}
			g.unreachable[pt.RPC] = unreachableHolder{at: time.Now(), err: err}
		}
	} else if err == nil {
		delete(g.unreachable, pt.RPC)
	}
	if cancel := st.fetching[pt.Task]; cancel != nil {
		cancel()
	}
	delete(st.fetching, pt.Task)
	if err != nil {
		if st.ctx.Err() != nil {
			return
		}
		g.log.Warn("fetching partial failed", zap.String("job", k.job), zap.Int("partition", k.p),
			zap.Int("task", pt.Task), zap.Int("attempt", pt.Attempt), zap.String("from", pt.Node), zap.Error(err))
		if st.latest[pt.Task] != pt {
			g.startFetch(k, st, pt.Task)
		} else if g.Damaged != nil {
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				g.Damaged(k.job, k.p, pt, err)
			}()
		}
		// Otherwise the holder is gone or broken: the map task runs again
		// and its new location comes with a later Add.
		return
	}
	g.log.Debug("fetched partial", zap.String("job", k.job), zap.Int("partition", k.p), zap.Int("task", pt.Task), zap.Int("attempt", pt.Attempt), zap.String("from", pt.Node))
	st.have[pt.Task] = true
	g.maybeReduce(k, st)
}

func (g *Gatherer) fetchOnce(ctx context.Context, k partKey, st *gathering, pt protocol.Partial) error {
	var src io.Reader
	if pt.Node == g.self {
		// A partial of this node's is checked, then linked, not copied: neither file changes
		// once written.
		local := g.layout.PartialPath(k.job, pt.Task, pt.Attempt, k.p)
		f, err := os.Open(local)
		if errors.Is(err, os.ErrNotExist) {
			return transport.Errorf(transport.CodeNotFound, "%s: no such partial here", filepath.Base(local))
		}
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := integrity.Copy(io.Discard, bufio.NewReaderSize(&CountingReader{R: f, Count: st.advance}, 32<<10), partialName(k, pt)); err != nil {
			return err
		}
		if err := linkFile(local, g.layout.GatherPath(k.job, k.p, pt.Task)); err == nil {
			return nil
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		src = f
	} else {
		remote := NewReader(ctx, g.client, pt.RPC, protocol.MethodPartialRead, -1, func(off int64) any {
			return &protocol.PartialRead{Job: k.job, Task: pt.Task, Attempt: pt.Attempt, Partition: k.p, Offset: off}
		})
		defer remote.Close()
		src = remote
	}
	if g.Fetched != nil && pt.Node != g.self {
		src = &CountingReader{R: src, Count: g.Fetched}
	}
	src = &CountingReader{R: src, Count: st.advance}
	_, err := WriteFileAtomic(ctx, g.layout.GatherPath(k.job, k.p, pt.Task), false, func(w io.Writer) error {
		_, err := integrity.Copy(w, src, partialName(k, pt))
		return err
	})
	if err != nil {
		return fmt.Errorf("partial of task %d from %s: %w", pt.Task, pt.Node, err)
	}
	return nil
}

func (g *Gatherer) reduce(k partKey, st *gathering) {
	defer g.wg.Done()
	size, err := g.reduceSafely(k, st)
	permanent := false
	var rerr *job.RecordError
	if errors.As(err, &rerr) {
		permanent = true
	}
	g.mu.Lock()
	cancelled := st.ctx.Err() != nil
	if err == nil {
		st.reduced, st.size = true, size
	} else {
		st.started = false // a later Add may try again
	}
	if t, ok := damagedTask(k, st.maps, err); ok && !cancelled && st.refetched < maxRefetches {
		st.refetched++
		// The copy went bad on this disk after it was fetched and checked: fetch it again
		// (the holder's is checked as it comes), then reduce.
		g.log.Warn("a gathered partial is damaged: fetching it again", zap.String("job", k.job), zap.Int("partition", k.p), zap.Int("task", t), zap.Error(err))
		os.Remove(g.layout.GatherPath(k.job, k.p, t))
		delete(st.have, t)
		g.startFetch(k, st, t)
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if cancelled {
		return
	}
	g.onDone(k.job, k.p, size, err, permanent)
}

// reduceSafely reduces, turning a panic in a job's reducer into an error:
// a bug in a job must cost the partition, not the process.
func (g *Gatherer) reduceSafely(k partKey, st *gathering) (size int64, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.log.Error("reduce panicked", zap.String("job", k.job), zap.Int("partition", k.p), zap.Any("panic", v), zap.Stack("stack"))
			err = fmt.Errorf("reduce panicked: %v", v)
		}
	}()
	return g.reduceFiles(k, st)
}

func (g *Gatherer) reduceFiles(k partKey, st *gathering) (int64, error) {
	g.mu.Lock()
	env := job.ReduceEnv{Ctx: st.ctx, Runner: g.Runner, JobID: k.job, Partition: k.p, Attempt: st.attempts - 1}
	g.mu.Unlock()
	inputs := make([]io.Reader, st.maps)
	for t := 0; t < st.maps; t++ {
		f, err := os.Open(g.layout.GatherPath(k.job, k.p, t))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		inputs[t] = integrity.NewReader(bufio.NewReaderSize(&CountingReader{R: f, Count: st.advance}, 32<<10), gatheredName(k, t))
	}
	// A gathering forgotten while it reduces (its job cancelled, its reducer superseded)
	// commits nothing: no part is left that nobody will ask for.
	return writeFileAtomic(st.ctx, g.layout.ResultPath(k.job, k.p), g.SyncAbove, 0o600, func(w io.Writer) error {
		cw := integrity.NewWriter(&countingWriter{w: w, count: st.advance})
		rw := job.NewRecordWriter(cw)
		if err := job.ReduceTask(&st.spec, env, inputs, rw); err != nil {
			return err
		}
		if err := rw.Flush(); err != nil {
			return err
		}
		return cw.Close()
	})
}

// maxRefetches bounds how often a partition's gathered copies are found damaged and fetched
// again before its reduce fails here (a disk that damages whatever it holds): the partition
// then goes to another reducer.
const maxRefetches = 3

// partialName names a partial being fetched, in errors.
func partialName(k partKey, pt protocol.Partial) string {
	return fmt.Sprintf("the partial of map task %d (attempt %d, partition %d) of job %s on %s", pt.Task, pt.Attempt, k.p, k.job, pt.Node)
}

// gatheredName names the gathered copy of task's partial, in errors; damagedTask finds the task
// again in such an error.
func gatheredName(k partKey, task int) string {
	return fmt.Sprintf("the gathered copy of map task %d's partial (partition %d) of job %s", task, k.p, k.job)
}

// damagedTask returns the map task whose gathered copy err reports damaged.
func damagedTask(k partKey, maps int, err error) (int, bool) {
	var ce *integrity.CorruptError
	if !errors.As(err, &ce) {
		return 0, false
	}
	for t := 0; t < maps; t++ {
		if ce.What == gatheredName(k, t) {
			return t, true
		}
	}
	return 0, false
}

// Has reports whether the partial of map task for partition p is here.
func (g *Gatherer) Has(jobID string, p, task int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.parts[partKey{jobID, p}]
	return ok && st.have[task]
}

// Forget stops all work on a job and drops its state (not its results).
func (g *Gatherer) Forget(jobID string) {
	g.mu.Lock()
	for k, st := range g.parts {
		if k.job == jobID {
			st.cancel()
			delete(g.parts, k)
		}
	}
	g.mu.Unlock()
}

// Expire drops the gatherings no Add has named for longer than idle, and
// the partials fetched for them: those of jobs that ended while this node
// was cut off (nobody told it), or that moved to another reducer. A
// partition being reduced is left alone. A live job's reduce load balancer
// names its reducers at least every few seconds in the job's tail; one
// expired too early is gathered again at the next Add. The committed parts
// stay. It returns the partitions dropped.
func (g *Gatherer) Expire(idle time.Duration, now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k, st := range g.parts {
		if now.Sub(st.news) <= idle || (st.started && !st.reduced) {
			continue
		}
		st.cancel()
		delete(g.parts, k)
		os.RemoveAll(filepath.Dir(g.layout.GatherPath(k.job, k.p, 0)))
		out = append(out, fmt.Sprintf("%s/%d", k.job, k.p))
	}
	sort.Strings(out)
	return out
}

// Close stops every gathering and waits for its goroutines.
func (g *Gatherer) Close() {
	g.mu.Lock()
	for k, st := range g.parts {
		st.cancel()
		delete(g.parts, k)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// linkFile makes path a hard link to the file at target, replacing what
// was at path.
func linkFile(target, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".link"
	os.Remove(tmp)
	if err := os.Link(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
