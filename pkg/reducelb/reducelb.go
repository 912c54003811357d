// Package reducelb is the reduce load balancer. It picks each job's
// reducers lazily — when the job's first map task finishes, by the load at
// that moment — tells reducers where every partial is, picks again when a
// reducer is lost, and tells maplb how the reduce side progresses.
package reducelb

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/store"
	"github.com/dlbp/dlbp/pkg/transport"
)

// ReduceLB is a running reduce load balancer.
type ReduceLB struct {
	*daemon.Base

	mu       sync.Mutex
	sched    *sched.ReduceScheduler
	jobs     map[string]*rjob
	rpcOf    map[string]string // node name → RPC address
	dead     map[string]bool   // nodes gossip reported gone, until they rejoin
	leaves   *daemon.Leaves    // departures waiting out their grace period
	bootOf   map[string]string // node name → the Boot of the run seen last
	deadBoot map[string]string // node name → a run its probe proved gone
	dirty    map[string]bool   // jobs whose progress maplb has not heard yet
	kick     chan struct{}
	db       *store.DB
	unsaved  map[string]bool  // jobs whose record must be written
	saved    daemon.SaveState // the last save of job records
	saveKick chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type rjob struct {
	spec   job.Spec
	maps   int
	maplb  string
	parts  map[int]protocol.PartLocation
	copies map[int]*copying // committed parts being copied to a second node
	// watches is what each running partition's reducer last said of its progress, while the
	// job's every map output is known (watch.go).
	watches map[int]*watch
	rerun   []int
	done    bool
	fail    string
}

// inlineBytes is the size of the job's parts kept inline, but for
// partition p's.
func (j *rjob) inlineBytes(p int) int64 {
	var n int64
	for q, loc := range j.parts {
		if q != p && loc.Inline {
			n += int64(len(loc.Data))
		}
	}
	return n
}

// copying is a committed part on its way to a second node. The partition
// counts as done only once the copy is made (or no other node is there to
// hold one), so that a succeeded job's result outlives any one node.
type copying struct {
	done   protocol.ReduceDone // the reducer's report
	to     string              // the node copying it now
	tried  map[string]bool     // nodes asked in this round
	rounds int                 // rounds in which every other node failed
	watch  watch               // what c.to last said of its progress
}

// After a round in which every other node failed to copy a part, the copy
// is asked again copyRetry later, copyRounds times at most; then the part
// counts as done with the one copy it has.
const (
	copyRetry  = time.Second
	copyRounds = 5
)

// New builds a reduce load balancer from its options.
func New(o daemon.Options, log *zap.Logger, gossip cluster.Config) (*ReduceLB, error) {
	b, err := daemon.NewBase(o, log, gossip)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(o.DataDir, "reducelb.db"))
	if err != nil {
		b.Stop(context.Background())
		return nil, err
	}
	r := &ReduceLB{
		Base: b, sched: sched.NewReduceScheduler(),
		jobs: map[string]*rjob{}, rpcOf: map[string]string{}, dirty: map[string]bool{}, dead: map[string]bool{},
		kick: make(chan struct{}, 1), leaves: daemon.NewLeaves(o.LeaveGrace), bootOf: map[string]string{}, deadBoot: map[string]string{},
		db: db, unsaved: map[string]bool{}, saveKick: make(chan struct{}, 1),
	}
	if err := r.load(); err != nil {
		db.Close()
		b.Stop(context.Background())
		return nil, fmt.Errorf("loading jobs: %w", err)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	b.Metrics.Gauge("dlbp_reducelb_jobs", "Jobs reducelb follows: registered and not yet forgotten.", nil, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.jobs))
	})
	s := b.Server
	transport.Handle(s, protocol.MethodJobRegister, r.handleRegister)
	transport.Handle(s, protocol.MethodMapDone, r.handleMapDone)
	transport.Handle(s, protocol.MethodReduceDone, r.handleReduceDone)
	transport.Handle(s, protocol.MethodReduceFailed, r.handleReduceFailed)
	transport.Handle(s, protocol.MethodPartialDamaged, r.handlePartialDamaged)
	transport.Handle(s, protocol.MethodResultCopied, r.handleResultCopied)
	transport.Handle(s, protocol.MethodJobForget, r.handleForget)
	return r, nil
}

// Start serves, joins the cluster and follows its membership.
func (r *ReduceLB) Start() error {
	if err := r.Base.Start(cluster.Meta{Role: cluster.RoleReduceLB, State: cluster.StateAlive}, r.ready, nil); err != nil {
		return err
	}
	r.mu.Lock()
	for _, m := range r.Cluster.Members() {
		r.memberUp(m)
	}
	r.resumeAll()
	r.mu.Unlock()
	r.wg.Add(6)
	go r.every(refreshInterval, r.refresh)
	go r.every(250*time.Millisecond, r.finalizeLeaves)
	go r.followMembers()
	go r.sendProgress()
	go r.saver()
	go func() {
		defer r.wg.Done()
		r.WatchNodes(r.ctx, r.Opts.ProbeInterval, r.probedGone)
	}()
	return nil
}

// probedGone moves at once the reduce work of a node whose process its
// probe proved gone, without waiting for gossip and the grace period.
func (r *ReduceLB) probedGone(t daemon.ProbeTarget, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bootOf[t.Name] != t.Boot || r.deadBoot[t.Name] == t.Boot {
		return
	}
	r.Log.Info("node's service is gone", zap.String("node", t.Name), zap.String("why", reason))
	r.deadBoot[t.Name] = t.Boot
	r.leaves.Back(t.Name)
	r.nodeGone(t.Name)
}

func (r *ReduceLB) ready() error {
	r.mu.Lock()
	saveErr := r.saved.Err
	r.mu.Unlock()
	if saveErr != nil {
		return fmt.Errorf("saving job state failed (the disk of --data-dir?): %v", saveErr)
	}
	if len(r.Members(cluster.RoleNode)) == 0 {
		return errNoNodes
	}
	return nil
}

var errNoNodes = transport.Errorf(transport.CodeUnavailable, "no node in the cluster")

func (r *ReduceLB) followMembers() {
	defer r.wg.Done()
	for ev := range r.Cluster.Events() {
		r.Rejoined(ev)
		r.mu.Lock()
		switch ev.Type {
		case cluster.EventJoin, cluster.EventUpdate:
			r.memberUp(ev.Member)
		case cluster.EventLeave:
			if mm := ev.Member; mm.Meta.Role == cluster.RoleNode {
				if mm.Meta.State == cluster.StateDraining {
					r.nodeGone(mm.Name)
				} else {
					r.leaves.Left(mm.Name, time.Now())
					r.sched.NodeUp(sched.NodeInfo{Name: mm.Name, Slots: mm.Meta.Slots, Draining: true})
				}
			}
		}
		r.mu.Unlock()
	}
}

// nodeGone moves the reduce work of a node that left for good, and drops
// the map outputs it held. r.mu is held.
func (r *ReduceLB) nodeGone(name string) {
	r.Log.Info("node lost", zap.String("node", name))
	r.dead[name] = true
	for id, d := range r.sched.NodeDown(name, time.Now()) {
		r.carryOut(id, d)
	}
	r.copiesLost(name)
}

// finalizeLeaves ends the grace period of departed nodes. r.mu is held.
func (r *ReduceLB) finalizeLeaves() {
	// Gossip's view first: a node alive there but not here (its leave came
	// after the rejoin that refuted it) is taken back.
	for _, mem := range r.Members(cluster.RoleNode) {
		if r.deadBoot[mem.Name] == mem.Meta.Boot || mem.Meta.State != cluster.StateAlive {
			continue
		}
		if r.leaves.Pending(mem.Name) || !r.sched.HasNode(mem.Name) || r.dead[mem.Name] {
			r.memberUp(mem)
		}
	}
	for _, name := range r.leaves.Due(time.Now()) {
		r.nodeGone(name)
	}
}

// memberUp records a node's address and state. r.mu is held.
func (r *ReduceLB) memberUp(m cluster.Member) {
	if m.Meta.Role != cluster.RoleNode || r.deadBoot[m.Name] == m.Meta.Boot {
		return // not a node, or news of a run already proven gone
	}
	if boot, ok := r.bootOf[m.Name]; ok && boot != m.Meta.Boot && r.sched.HasNode(m.Name) {
		// Restarted under the same name: its reduce work in memory is gone.
		r.Log.Info("node restarted", zap.String("node", m.Name))
		r.leaves.Back(m.Name)
		r.nodeGone(m.Name)
	}
	r.bootOf[m.Name] = m.Meta.Boot
	r.rpcOf[m.Name] = m.Meta.RPC
	delete(r.dead, m.Name)
	r.leaves.Back(m.Name)
	r.sched.NodeUp(sched.NodeInfo{Name: m.Name, Slots: m.Meta.Slots, Draining: m.Meta.State == cluster.StateDraining, Exec: m.Meta.Exec, Full: m.Meta.DiskLow})
}

func (r *ReduceLB) register(id string, spec job.Spec, maps int, maplb string) *rjob {
	if j, ok := r.jobs[id]; ok {
		return j
	}
	j := &rjob{spec: spec, maps: maps, maplb: maplb, parts: map[int]protocol.PartLocation{}}
	r.jobs[id] = j
	r.sched.AddJob(id, maps, spec.Reducers)
	r.sched.SetRules(id, protocol.ReduceRules(&spec))
	r.persist(id)
	return j
}

// checkJob validates what a message says of a job before anything is
// stored or allocated for it.
func checkJob(id string, spec *job.Spec, maps int) error {
	if !protocol.ValidJobID(id) {
		return transport.Errorf(transport.CodeBadRequest, "%q is not a job id", id)
	}
	if err := spec.CheckLimits(); err != nil {
		return transport.Errorf(transport.CodeBadRequest, "job %s: %v", id, err)
	}
	if err := job.CheckMapCount(maps); err != nil {
		return transport.Errorf(transport.CodeBadRequest, "job %s: %v", id, err)
	}
	return nil
}

func (r *ReduceLB) handleRegister(_ context.Context, m *protocol.RegisterJob) (*protocol.Empty, error) {
	if err := checkJob(m.Job, &m.Spec, m.Maps); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.register(m.Job, m.Spec, m.Maps, m.MapLB).maplb = m.MapLB
	r.Log.Info("job registered", zap.String("job", m.Job), zap.Int("maps", m.Maps), zap.Int("partitions", m.Spec.Reducers))
	return &protocol.Empty{}, nil
}

func (r *ReduceLB) handleMapDone(_ context.Context, m *protocol.MapDone) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead[m.Node] {
		// Its partials went with it; maplb runs the task again.
		return nil, transport.Errorf(transport.CodeGone, "node %s left the cluster: the output of task %d is lost", m.Node, m.Task)
	}
	if !r.sched.HasNode(m.Node) {
		// Not (yet) a member as gossip tells it: the sender tries again.
		return nil, transport.Errorf(transport.CodeUnavailable, "node %s is not a member of the cluster", m.Node)
	}
	if _, ok := r.jobs[m.Job]; !ok {
		// Registration may have been lost with a restart: the report
		// carries what is needed.
		if err := checkJob(m.Job, &m.Spec, m.MapCount); err != nil {
			return nil, err
		}
		r.register(m.Job, m.Spec, m.MapCount, m.MapLB)
	}
	r.sched.SetRunning(m.Node, m.Running) // its address is gossip's, not the message's
	d := r.sched.MapDone(m.Job, sched.MapOutput{Task: m.Task, Attempt: m.Attempt, Node: m.Node}, time.Now())
	r.carryOut(m.Job, d)
	return &protocol.Empty{}, nil
}

func (r *ReduceLB) handleReduceDone(_ context.Context, m *protocol.ReduceDone) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[m.Job]
	if !ok {
		return nil, transport.Errorf(transport.CodeNotFound, "unknown job %s", m.Job)
	}
	if !r.sched.Reducing(m.Job, m.Partition, m.Node) {
		return &protocol.Empty{}, nil // late, or from a reducer replaced since
	}
	if c := j.copies[m.Partition]; c != nil && c.done.Node == m.Node {
		return &protocol.Empty{}, nil // said again while its copy is made
	}
	if addr, ok := r.rpcOf[m.Node]; ok {
		m.RPC = addr // gossip's address, not the message's
	}
	if m.Inline && int64(len(m.Data)) == m.Size && m.Size <= protocol.InlineMax && j.inlineBytes(m.Partition)+m.Size <= protocol.InlineJobMax {
		// Small: the part came with the report, and the load balancers
		// keep it; it needs no copy.
		r.partCommitted(m.Job, j, m.Partition, &copying{done: *m}, "")
		return &protocol.Empty{}, nil
	}
	m.Inline, m.Data = false, nil
	if j.copies == nil {
		j.copies = map[int]*copying{}
	}
	c := &copying{done: *m, tried: map[string]bool{}}
	j.copies[m.Partition] = c
	r.startCopy(m.Job, j, m.Partition, c)
	return &protocol.Empty{}, nil
}

// startCopy asks the least loaded other node to copy a committed part; with
// no node left to ask, the part is done with the one copy it has. r.mu is
// held.
func (r *ReduceLB) startCopy(id string, j *rjob, p int, c *copying) {
	to, ok := r.sched.PickCopy(c.done.Node, c.tried)
	if !ok && len(c.tried) > 0 && c.rounds < copyRounds {
		// Every other node failed to copy it: most likely the reducer
		// itself is gone, which its probe will soon prove (copiesLost then
		// drops this copy and the partition is reduced again). Ask again
		// in a moment rather than count the part done on a dead node.
		c.rounds++
		clear(c.tried)
		c.to = "" // nobody copies it until the retry
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			select {
			case <-time.After(copyRetry):
			case <-r.ctx.Done():
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if j := r.jobs[id]; j != nil && j.copies[p] == c {
				r.startCopy(id, j, p, c)
			}
		}()
		return
	}
	if !ok {
		if len(c.tried) > 0 {
			r.Log.Warn("no node could copy a part: it has one copy", zap.String("job", id), zap.Int("partition", p), zap.String("node", c.done.Node))
		}
		r.partCommitted(id, j, p, c, "")
		return
	}
	c.to, c.tried[to] = to, true
	c.watch = watch{node: to, value: -1, since: time.Now()}
	msg := r.copyRequest(id, p, c)
	addr := r.rpcOf[to]
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var rep protocol.WorkProgress
		if r.send(addr, protocol.MethodResultCopy, msg, &rep, zap.String("copy", to)) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if j := r.jobs[id]; j != nil && j.copies[p] == c && c.to == to {
				c.watch.saw(to, rep.Progress, time.Now())
			}
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if j := r.jobs[id]; j != nil && j.copies[p] == c && c.to == to {
			r.startCopy(id, j, p, c)
		}
	}()
}

func (r *ReduceLB) handleResultCopied(_ context.Context, m *protocol.ResultCopied) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[m.Job]
	if !ok {
		return &protocol.Empty{}, nil
	}
	c := j.copies[m.Partition]
	if c == nil || c.to != m.Node || c.done.Node != m.From {
		return &protocol.Empty{}, nil // a copy nobody waits for any more
	}
	if m.SourceDamaged {
		// The reducer's part is damaged on its disk and has no copy yet: the partition is
		// reduced again, elsewhere, from the partials (still kept: the job runs).
		r.Log.Warn("a part is damaged on its reducer: reducing it again", zap.String("job", m.Job), zap.Int("partition", m.Partition),
			zap.String("reducer", c.done.Node), zap.String("error", m.Err))
		delete(j.copies, m.Partition)
		r.carryOut(m.Job, r.sched.ReduceFailed(m.Job, m.Partition, c.done.Node, time.Now(), "its part was damaged on its disk: "+m.Err, sched.FaultNode))
		return &protocol.Empty{}, nil
	}
	if m.Err != "" {
		r.Log.Warn("copying a part failed; asking another node", zap.String("job", m.Job), zap.Int("partition", m.Partition), zap.String("node", m.Node), zap.String("error", m.Err))
		r.startCopy(m.Job, j, m.Partition, c)
		return &protocol.Empty{}, nil
	}
	r.partCommitted(m.Job, j, m.Partition, c, m.Node)
	return &protocol.Empty{}, nil
}

// partCommitted counts a partition done: its part is on its reducer and,
// unless copyNode is "", on copyNode. r.mu is held.
func (r *ReduceLB) partCommitted(id string, j *rjob, p int, c *copying, copyNode string) {
	delete(j.copies, p)
	m := c.done
	d := r.sched.ReduceDone(id, p, m.Node, m.End)
	r.Metrics.TasksFinished.WithLabelValues("reduce", "done").Inc()
	if r.sched.Reducer(id, p) == m.Node {
		loc := protocol.PartLocation{Partition: p, Node: m.Node, RPC: m.RPC, Size: m.Size, Inline: m.Inline, Data: m.Data}
		if copyNode != "" {
			loc.Copy, loc.CopyRPC = copyNode, r.rpcOf[copyNode]
		}
		j.parts[p] = loc
	}
	r.carryOut(id, d)
}

// copiesLost deals with a node gone for good: a copy it was making is
// asked of another node; a part it wrote that was not copied yet is lost
// with it (the partition, still running, has a new reducer). r.mu is held.
func (r *ReduceLB) copiesLost(name string) {
	for id, j := range r.jobs {
		for _, p := range slices.Sorted(maps.Keys(j.copies)) {
			switch c := j.copies[p]; name {
			case c.done.Node:
				delete(j.copies, p)
			case c.to:
				r.startCopy(id, j, p, c)
			}
		}
	}
}

func (r *ReduceLB) handleReduceFailed(_ context.Context, m *protocol.ReduceFailed) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.jobs[m.Job]; !ok {
		return nil, transport.Errorf(transport.CodeNotFound, "unknown job %s", m.Job)
	}
	r.Log.Warn("reduce failed", zap.String("job", m.Job), zap.Int("partition", m.Partition), zap.String("node", m.Node), zap.String("reason", m.Reason))
	r.carryOut(m.Job, r.sched.ReduceFailed(m.Job, m.Partition, m.Node, time.Now(), m.Reason, protocol.Fault(m.Permanent, m.User)))
	return &protocol.Empty{}, nil
}

func (r *ReduceLB) handlePartialDamaged(_ context.Context, m *protocol.PartialDamaged) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.jobs[m.Job]; !ok {
		return nil, transport.Errorf(transport.CodeNotFound, "unknown job %s", m.Job)
	}
	d := r.sched.OutputDamaged(m.Job, m.Task, m.Attempt, m.Holder)
	r.Log.Warn("a partial is damaged on its holder", zap.String("job", m.Job), zap.Int("task", m.Task), zap.Int("attempt", m.Attempt),
		zap.String("holder", m.Holder), zap.String("found_by", m.Node), zap.Bool("runs_again", len(d.Rerun) > 0), zap.String("reason", m.Reason))
	r.carryOut(m.Job, d)
	return &protocol.Empty{}, nil
}

func (r *ReduceLB) handleForget(_ context.Context, m *protocol.JobForget) (*protocol.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sched.Forget(m.Job)
	delete(r.jobs, m.Job)
	delete(r.dirty, m.Job)
	r.persist(m.Job)
	return &protocol.Empty{}, nil
}

// carryOut sends the work the scheduler decided: each reducer learns its
// partition and the partials to gather; maplb hears of the change. r.mu is
// held.
func (r *ReduceLB) carryOut(id string, d sched.ReduceDecisions) {
	j := r.jobs[id]
	if j == nil {
		return
	}
	for _, p := range d.Picks {
		r.Log.Info("reducer picked", zap.String("job", id), zap.Int("partition", p.Partition), zap.String("node", p.Node), zap.String("reason", p.Reason))
		why := "first"
		if strings.Contains(p.Reason, "lost") || strings.Contains(p.Reason, "failed") || strings.Contains(p.Reason, "restarted") {
			why = "repick"
			r.Metrics.TasksRetried.WithLabelValues("reduce", "reducer lost").Inc()
		}
		r.Metrics.ReducerPicks.WithLabelValues(why).Inc()
		r.Metrics.TasksStarted.WithLabelValues("reduce").Inc()
	}
	r.sendFetches(id, j, d.Fetches, false)
	for _, p := range d.Picks {
		delete(j.watches, p.Partition) // a new reducer (or the same again): its clock starts anew
	}
	j.rerun = append(j.rerun, d.Rerun...)
	if d.JobDone {
		j.done = true
		r.Log.Info("job reduced", zap.String("job", id))
	}
	if d.JobFailed != "" {
		j.fail = d.JobFailed
	}
	r.dirty[id] = true
	r.persist(id)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// sendFetches tells each reducer its partition and the partials to gather,
// one message per reducer and partition; each answer says how far the reducer is. A check-in
// (refresh's) is tried once, briefly: the next comes a few seconds later. r.mu is held.
func (r *ReduceLB) sendFetches(id string, j *rjob, fetches []sched.Fetch, checkIn bool) {
	work := map[[2]any]*protocol.ReduceWork{}
	var order [][2]any
	for _, f := range fetches {
		k := [2]any{f.Reducer, f.Partition}
		w, ok := work[k]
		if !ok {
			w = &protocol.ReduceWork{Job: id, Partition: f.Partition, Spec: j.spec, Maps: j.maps, ReduceLB: r.RPCAddr()}
			work[k] = w
			order = append(order, k)
		}
		w.Partials = append(w.Partials, protocol.Partial{Task: f.Output.Task, Attempt: f.Output.Attempt, Node: f.Output.Node, RPC: r.rpcOf[f.Output.Node], Seq: f.Output.Seq})
	}
	for _, k := range order {
		reducer, addr := k[0].(string), r.rpcOf[k[0].(string)]
		w := work[k]
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			var rep protocol.WorkProgress
			ok := false
			if checkIn {
				ok = r.checkIn(addr, protocol.MethodReduceAdd, w, &rep)
			} else {
				ok = r.send(addr, protocol.MethodReduceAdd, w, &rep, zap.String("reducer", reducer))
			}
			if ok {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.heardReducer(id, w.Partition, reducer, rep.Progress)
			}
		}()
	}
}

// every calls f with r.mu held every interval until the daemon stops.
func (r *ReduceLB) every(interval time.Duration, f func()) {
	defer r.wg.Done()
	daemon.Every(r.ctx, interval, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		f()
	})
}

// refreshInterval is how often the reducers of jobs in their reduce tail
// are told again of every partial (see sched.Refresh).
const refreshInterval = 5 * time.Second

// refresh heals lost or overtaken news: the reducers of each job whose map outputs are all
// known hear of all of them again, and the nodes copying parts are asked again; work that
// made no progress for the stall timeout goes to another node (watch.go). r.mu is held.
func (r *ReduceLB) refresh() {
	now := time.Now()
	for _, id := range slices.Sorted(maps.Keys(r.jobs)) {
		j := r.jobs[id]
		f := r.sched.Refresh(id)
		if len(f) == 0 {
			clear(j.watches) // some map output is missing: no reducer can progress
		} else {
			r.Log.Debug("telling reducers of every partial again", zap.String("job", id), zap.Int("partials", len(f)))
			r.sendFetches(id, j, f, true)
			r.checkReducers(id, j, f, now)
		}
		r.checkCopies(id, j, now)
	}
}

// send delivers a message, trying again while the peer is unreachable; reply, when not nil,
// takes the answer.
func (r *ReduceLB) send(addr, method string, msg, reply any, fields ...zap.Field) bool {
	var err error
	for try := 0; try < 6; try++ {
		if err = r.Client.Call(r.ctx, addr, method, msg, reply); err == nil {
			return true
		}
		if r.ctx.Err() != nil {
			return false
		}
		if code := transport.CodeOf(err); code != "" && code != transport.CodeUnavailable {
			break
		}
		select {
		case <-time.After(time.Duration(50<<try) * time.Millisecond):
		case <-r.ctx.Done():
			return false
		}
	}
	r.Log.Warn("message not delivered", append(fields, zap.String("to", addr), zap.String("method", method), zap.Error(err))...)
	return false
}

// sendProgress tells maplb of each changed job, one snapshot at a time, so
// the latest state always arrives last.
func (r *ReduceLB) sendProgress() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
		}
		// Every changed job gets one try per round, so that a maplb that is
		// down (or a bogus address) delays nobody else's news.
		r.mu.Lock()
		ids := sortedKeys(r.dirty)
		clear(r.dirty)
		r.mu.Unlock()
		failed := false
		for _, id := range ids {
			if !r.sendProgressOf(id) {
				failed = true
			}
		}
		if failed {
			r.retryProgressLater()
		}
	}
}

// sendProgressOf sends one job's progress once; a job whose maplb did not
// take it is marked for the next round.
func (r *ReduceLB) sendProgressOf(id string) bool {
	r.mu.Lock()
	j := r.jobs[id]
	if j == nil {
		r.mu.Unlock()
		return true
	}
	tasks, picks := r.sched.Status(id)
	msg := &protocol.ReduceProgress{Job: id, Reduces: tasks, Reducers: picks, Rerun: j.rerun, Done: j.done, Failed: j.fail}
	for p := 0; p < j.spec.Reducers; p++ {
		if loc, ok := j.parts[p]; ok {
			msg.Parts = append(msg.Parts, loc)
		}
	}
	addr := j.maplb
	r.mu.Unlock()
	err := r.CallLB(r.ctx, 5*time.Second, addr, protocol.MethodReduceProgress, msg, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if _, ok := r.jobs[id]; ok && r.ctx.Err() == nil {
			r.Log.Debug("progress not delivered; trying again", zap.String("job", id), zap.String("to", addr), zap.Error(err))
			r.dirty[id] = true
		}
		return false
	}
	if j := r.jobs[id]; j != nil && len(j.rerun) >= len(msg.Rerun) {
		j.rerun = j.rerun[len(msg.Rerun):]
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// retryProgressLater kicks the progress sender again after a pause.
func (r *ReduceLB) retryProgressLater() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-time.After(500 * time.Millisecond):
			select {
			case r.kick <- struct{}{}:
			default:
			}
		case <-r.ctx.Done():
		}
	}()
}

// Shutdown leaves the cluster and stops. Its jobs' reducers keep working;
// their reports wait for a reduce load balancer to come back.
func (r *ReduceLB) Shutdown(ctx context.Context) error {
	r.Base.Leave(5 * time.Second)
	return r.Close()
}

// Close stops at once.
func (r *ReduceLB) Close() error {
	r.cancel()
	r.Base.StopSoon()
	r.wg.Wait()
	return r.db.Close()
}
