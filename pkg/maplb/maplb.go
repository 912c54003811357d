// Package maplb is the map load balancer: the cluster's front door. It
// accepts jobs and their input, keeps them under its data directory, cuts
// the input into map tasks at line boundaries, places each task on a live
// node (least loaded in mode dlbp, round-robin in mode single), moves the
// work of a lost node elsewhere, and tells clients when their job is done.
// In mode single it also gathers every partial and reduces by itself.
package maplb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/store"
	"github.com/dlbp/dlbp/pkg/transport"
)

// Limits on what a client may ask for.
const (
	MinSplitSize    = 4 << 10
	maxAutoSplit    = 16 << 20 // a short task frees its slot soon for other jobs
	minAutoSplit    = 64 << 10
	defaultSplit    = 16 << 20
	rejectBackoff   = 200 * time.Millisecond
	tickInterval    = 250 * time.Millisecond
	maxWaitDuration = time.Minute
	uploadIdle      = 10 * time.Minute // an upload silent this long is dropped
)

// MapLB is a running map load balancer.
type MapLB struct {
	*daemon.Base
	mode   sched.Mode
	layout shuffle.Layout
	gather *shuffle.Gatherer // mode single: the master reduces
	user   *userCode         // blobs of user jobs, and the runtime that checks and (mode single) reduces them

	mu           sync.Mutex
	sched        *sched.MapScheduler
	jobs         map[string]*mjob
	active       map[string]*mjob              // the jobs not finished: uploading, queued or running
	order        []string                      // job ids, oldest first
	gone         map[string]time.Time          // expired job ids → when they expired
	beginKeys    map[string]string             // SubmitBegin.Key → the job it opened, while the job is known
	droppedUp    map[string]droppedUpload      // uploads dropped lately → why (for their chunks still coming)
	saved        daemon.SaveState              // the last save of job records
	lostNodes    map[string]lostNode           // nodes that left lately, for the dashboard
	leaves       *daemon.Leaves                // departures waiting out their grace period
	bootOf       map[string]string             // node name → the Boot of the run seen last
	deadBoot     map[string]string             // node name → a run its probe proved gone
	lostAttempts map[string][]sched.AttemptRef // node name → attempts lost with it, to stop if it comes back
	reduceLBBoot map[string]string             // reducelb name → the Boot of the run seen last
	db           *store.DB
	dirty        map[string]bool // jobs whose record must be written
	persistKick  chan struct{}
	rpcOf        map[string]string // node name → RPC address
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// New builds a map load balancer from its options.
func New(o daemon.Options, log *zap.Logger, gossip cluster.Config) (*MapLB, error) {
	mode, ok := sched.ParseMode(o.Mode)
	if !ok {
		return nil, fmt.Errorf("unknown mode %q", o.Mode)
	}
	b, err := daemon.NewBase(o, log, gossip)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(o.DataDir, storeFile))
	if err != nil {
		b.Stop(context.Background())
		return nil, err
	}
	m := &MapLB{
		Base: b, mode: mode, layout: shuffle.Layout{Dir: o.DataDir},
		sched: sched.NewMapScheduler(mode),
		jobs:  map[string]*mjob{}, active: map[string]*mjob{}, rpcOf: map[string]string{}, leaves: daemon.NewLeaves(o.LeaveGrace), bootOf: map[string]string{}, deadBoot: map[string]string{}, lostAttempts: map[string][]sched.AttemptRef{}, reduceLBBoot: map[string]string{}, gone: map[string]time.Time{}, lostNodes: map[string]lostNode{}, droppedUp: map[string]droppedUpload{}, beginKeys: map[string]string{},
		db: db, dirty: map[string]bool{}, persistKick: make(chan struct{}, 1),
	}
	if err := m.load(); err != nil {
		db.Close()
		b.Stop(context.Background())
		return nil, fmt.Errorf("loading jobs: %w", err)
	}
	// Mode single's gathered partials: a recovered job fetches them again.
	if err := m.layout.SweepEarlierRun(); err != nil {
		db.Close()
		b.Stop(context.Background())
		return nil, fmt.Errorf("removing what an earlier run left in %s: %w", o.DataDir, err)
	}
	for _, st := range []string{protocol.StateQueued, protocol.StateRunning, protocol.StateSucceeded, protocol.StateFailed, protocol.StateCancelled} {
		b.Metrics.Gauge("dlbp_jobs", "Jobs this maplb keeps, by state.", map[string]string{"state": st}, func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			n := 0
			for _, j := range m.jobs {
				if j.state == st {
					n++
				}
			}
			return float64(n)
		})
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.startUserCode(); err != nil {
		db.Close()
		b.Stop(context.Background())
		return nil, err
	}
	m.gather = shuffle.NewGatherer(m.layout, b.Client, o.Name, log, m.partReduced)
	m.gather.Runner = m.user.rt
	m.gather.Fetched = b.Metrics.Bytes.WithLabelValues("in", "partial").Add
	m.gather.Damaged = m.partialDamaged
	s := b.Server
	transport.Handle(s, protocol.MethodSubmitBegin, m.handleSubmitBegin)
	transport.Handle(s, protocol.MethodSubmitUpload, m.handleUpload)
	transport.Handle(s, protocol.MethodSubmitCommit, m.handleCommit)
	transport.Handle(s, protocol.MethodJobWait, m.handleWait)
	transport.Handle(s, protocol.MethodJobStatus, m.handleStatus)
	transport.Handle(s, protocol.MethodJobList, m.handleList)
	transport.Handle(s, protocol.MethodJobCancel, m.handleCancel)
	transport.Handle(s, protocol.MethodNodesList, m.handleNodes)
	transport.Handle(s, protocol.MethodResultRead, m.handleResultRead)
	transport.Handle(s, protocol.MethodInputRead, m.handleInputRead)
	transport.Handle(s, protocol.MethodMapDone, m.handleMapDone)
	transport.Handle(s, protocol.MethodMapFailed, m.handleMapFailed)
	transport.Handle(s, protocol.MethodReduceProgress, m.handleReduceProgress)
	return m, nil
}

// Start serves, joins the cluster and begins scheduling.
func (m *MapLB) Start() error {
	meta := cluster.Meta{Role: cluster.RoleMapLB, State: cluster.StateAlive, Mode: string(m.mode)}
	if err := m.Base.Start(meta, m.ready, m.dashboard()); err != nil {
		return err
	}
	m.mu.Lock()
	for _, mem := range m.Cluster.Members() {
		m.memberUp(mem)
	}
	m.mu.Unlock()
	m.wg.Add(4)
	go m.followMembers()
	go m.tick()
	go m.persister()
	go func() {
		defer m.wg.Done()
		m.WatchNodes(m.ctx, m.Opts.ProbeInterval, m.probedGone)
	}()
	return nil
}

// probedGone moves at once the work of a node whose process its probe
// proved gone (connection refused, or another run answering), without
// waiting for gossip and the leave grace period.
func (m *MapLB) probedGone(t daemon.ProbeTarget, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bootOf[t.Name] != t.Boot || m.deadBoot[t.Name] == t.Boot {
		return // a newer run is known, or this one is already counted gone
	}
	m.Log.Info("node's service is gone", zap.String("node", t.Name), zap.String("why", reason))
	m.deadBoot[t.Name] = t.Boot
	m.lostNodes[t.Name] = lostNode{info: protocol.NodeInfo{Name: t.Name, Role: string(cluster.RoleNode), RPC: t.RPC}, at: time.Now()}
	m.leaves.Back(t.Name)
	m.nodeGone(t.Name)
	m.dispatch()
}

func (m *MapLB) ready() error {
	m.mu.Lock()
	saveErr := m.saved.Err
	m.mu.Unlock()
	if saveErr != nil {
		return fmt.Errorf("saving job state failed (the disk of --data-dir?): %v", saveErr)
	}
	if lack := m.clusterLacks(); lack != "" {
		return errors.New(lack)
	}
	return nil
}

// clusterLacks names what the cluster lacks for any job to finish, or "". /readyz says it, and
// so does the status of every unfinished job (waiting).
func (m *MapLB) clusterLacks() string {
	if len(m.Members(cluster.RoleNode)) == 0 {
		return "no live node in the cluster"
	}
	if m.mode == sched.ModeDLBP && len(m.Members(cluster.RoleReduceLB)) == 0 {
		return "no reducelb in the cluster (mode dlbp needs one)"
	}
	return ""
}

// waiting says why an unfinished job cannot progress now, or "". m.mu is held.
func (m *MapLB) waiting(j *mjob) string {
	if j.state != protocol.StateQueued && j.state != protocol.StateRunning {
		return ""
	}
	if lack := m.clusterLacks(); lack != "" {
		return lack
	}
	return m.sched.Waiting(j.id, time.Now())
}

func (m *MapLB) followMembers() {
	defer m.wg.Done()
	for ev := range m.Cluster.Events() {
		m.Rejoined(ev)
		m.mu.Lock()
		switch ev.Type {
		case cluster.EventJoin, cluster.EventUpdate:
			m.memberUp(ev.Member)
			if mm := ev.Member; mm.Meta.Role == cluster.RoleReduceLB && m.reduceLBBoot[mm.Name] != mm.Meta.Boot {
				// A reducelb that joined, or restarted (faster than gossip
				// saw it leave): it may have lost reports it took but had
				// not saved yet, so it hears of every output again.
				m.reduceLBBoot[mm.Name] = mm.Meta.Boot
				m.resyncReduceLB()
			}
		case cluster.EventLeave:
			if mm := ev.Member; mm.Meta.Role == cluster.RoleNode {
				m.lostNodes[mm.Name] = lostNode{info: protocol.NodeInfo{Name: mm.Name, Role: string(mm.Meta.Role), RPC: mm.Meta.RPC, Slots: mm.Meta.Slots}, at: time.Now()}
				if mm.Meta.State == cluster.StateDraining {
					m.nodeGone(mm.Name) // a graceful leave: no flap to wait out
				} else {
					// It gets no new work; its work moves only if it is not back
					// within the grace period (gossip flaps on a loaded machine).
					m.leaves.Left(mm.Name, time.Now())
					m.sched.NodeUp(sched.NodeInfo{Name: mm.Name, Slots: mm.Meta.Slots, Draining: true})
				}
			}
		}
		m.dispatch()
		m.mu.Unlock()
	}
}

// nodeGone moves the work of a node that left for good. m.mu is held.
func (m *MapLB) nodeGone(name string) {
	lost := m.sched.NodeDown(name, time.Now(), "node "+name+" left the cluster")
	// Should the node come back (cut off, not dead), these attempts are
	// stopped there: they would hold its slots for nothing.
	m.lostAttempts[name] = append(m.lostAttempts[name], lost...)
	m.Metrics.TasksFinished.WithLabelValues("map", "lost").Add(float64(len(lost)))
	m.Metrics.TasksRetried.WithLabelValues("map", "node lost").Add(float64(len(lost)))
	m.Log.Info("node lost", zap.String("node", name), zap.Int("attempts", len(lost)))
	for _, a := range lost {
		m.changed(a.Job)
	}
	if m.mode == sched.ModeSingle {
		m.rerunUngathered(name)
	}
}

// memberUp records a node's address and state. m.mu is held.
func (m *MapLB) memberUp(mem cluster.Member) {
	if mem.Meta.Role != cluster.RoleNode || m.deadBoot[mem.Name] == mem.Meta.Boot {
		return // not a node, or news of a run already proven gone
	}
	delete(m.lostNodes, mem.Name)
	if boot, ok := m.bootOf[mem.Name]; ok && boot != mem.Meta.Boot {
		// Restarted under the same name: what the old process ran is lost.
		m.Log.Info("node restarted", zap.String("node", mem.Name))
		m.leaves.Back(mem.Name)
		m.nodeGone(mem.Name)
	} else if m.leaves.Back(mem.Name) {
		m.Log.Info("node back within the grace period: its work stays", zap.String("node", mem.Name))
	}
	if lost := m.lostAttempts[mem.Name]; len(lost) > 0 {
		delete(m.lostAttempts, mem.Name)
		if m.bootOf[mem.Name] == mem.Meta.Boot {
			m.Log.Info("node back after its work moved: stopping its old attempts", zap.String("node", mem.Name), zap.Int("attempts", len(lost)))
			m.rpcOf[mem.Name] = mem.Meta.RPC
			m.cancelAttempts(lost)
		}
	}
	m.bootOf[mem.Name] = mem.Meta.Boot
	m.rpcOf[mem.Name] = mem.Meta.RPC
	m.sched.NodeUp(sched.NodeInfo{Name: mem.Name, Slots: mem.Meta.Slots, Draining: mem.Meta.State == cluster.StateDraining, Exec: mem.Meta.Exec, Full: mem.Meta.DiskLow})
}

// reconcileNodes makes the scheduler follow gossip's view: a node gossip
// counts alive but the scheduler does not (its leave came after the rejoin
// that refuted it, or an event was missed) is taken back, so that a live
// node is never left without work. m.mu is held.
func (m *MapLB) reconcileNodes() {
	for _, mem := range m.Members(cluster.RoleNode) {
		if m.deadBoot[mem.Name] == mem.Meta.Boot || mem.Meta.State != cluster.StateAlive {
			continue
		}
		if m.leaves.Pending(mem.Name) || !m.sched.HasNode(mem.Name) {
			m.memberUp(mem)
		}
	}
}

// tick retries what waits on time: queued jobs waiting for a reducelb,
// nodes that refused work a moment ago.
func (m *MapLB) tick() {
	defer m.wg.Done()
	daemon.Every(m.ctx, tickInterval, func() {
		m.startQueued()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reconcileNodes()
		for _, name := range m.leaves.Due(time.Now()) {
			m.nodeGone(name)
		}
		m.giveUpStalled(time.Now())
		m.dispatch()
		m.expire(time.Now())
	})
}

// giveUpStalled cancels attempts past the task deadline; their tasks run
// elsewhere. m.mu is held.
func (m *MapLB) giveUpStalled(now time.Time) {
	for _, ex := range m.sched.Expire(now) {
		a := ex.Attempt
		m.Log.Warn("map attempt past its deadline", zap.String("job", a.Job), zap.Int("task", a.Task), zap.Int("attempt", a.Attempt), zap.String("node", a.Node))
		m.Metrics.TasksRetried.WithLabelValues("map", "deadline").Inc()
		m.cancelAttempts(append([]sched.AttemptRef{a}, ex.Outcome.Cancel...))
		if j := m.jobs[a.Job]; j != nil && ex.Outcome.JobFailed != "" {
			m.endJob(j, protocol.StateFailed, ex.Outcome.JobFailed)
			continue
		}
		m.changed(a.Job)
	}
}

// dropUpload forgets a job whose upload will not finish, and removes what it stored. m.mu is
// held.
func (m *MapLB) dropUpload(j *mjob, why string) {
	m.Log.Warn("upload dropped", zap.String("job", j.id), zap.String("why", why))
	j.closeUploads()
	os.RemoveAll(j.dir)
	delete(m.jobs, j.id)
	delete(m.active, j.id)
	delete(m.beginKeys, j.key)
	m.droppedUp[j.id] = droppedUpload{why: why, at: time.Now()}
}

// droppedUpload is why an upload was dropped, told to the chunks that were on their way.
type droppedUpload struct {
	why string
	at  time.Time
}

// resultHolders returns the RPC addresses of the nodes that may hold parts of a job: those its
// parts and their copies name, and every node that ran one of its reduce attempts (a reducer
// given up as stalled may have committed its part later; nobody else names it). m.mu is held.
func (m *MapLB) resultHolders(j *mjob) []string {
	addrs := map[string]bool{}
	for _, p := range j.parts {
		for _, a := range []struct{ node, rpc string }{{p.Node, p.RPC}, {p.Copy, p.CopyRPC}} {
			if a.node != m.Opts.Name && a.rpc != "" {
				addrs[a.rpc] = true
			}
		}
	}
	for _, r := range j.reduces {
		for _, a := range r.Attempts {
			if rpc := m.rpcOf[a.Node]; a.Node != m.Opts.Name && rpc != "" {
				addrs[rpc] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(addrs))
}

// expire forgets jobs that finished more than the result TTL ago, with
// their results, wherever those are. m.mu is held.
func (m *MapLB) expire(now time.Time) {
	for _, j := range m.active {
		if j.state == stateUploading && now.Sub(j.idleSince()) > uploadIdle {
			m.dropUpload(j, fmt.Sprintf("abandoned: no chunk for %s", now.Sub(j.idleSince()).Round(time.Second)))
		}
	}
	for id, d := range m.droppedUp {
		if now.Sub(d.at) > uploadIdle {
			delete(m.droppedUp, id)
		}
	}
	keep := m.order[:0]
	for _, id := range m.order {
		j := m.jobs[id]
		if j == nil || !protocol.Terminal(j.state) || now.Sub(j.finished) < m.Opts.ResultKeep {
			keep = append(keep, id)
			continue
		}
		delete(m.jobs, id)
		delete(m.beginKeys, j.key)
		m.gone[id] = now
		m.dirty[id] = true // no record: the persister deletes it
		m.Log.Info("job expired", zap.String("job", id))
		if err := m.layout.ForgetResults(id); err != nil {
			m.Log.Warn("removing results", zap.String("job", id), zap.Error(err))
		}
		os.RemoveAll(j.dir)
		for _, addr := range m.resultHolders(j) {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
				defer cancel()
				m.Client.Call(ctx, addr, protocol.MethodJobForget, &protocol.JobForget{Job: id, Results: true}, nil)
			}()
		}
	}
	m.order = keep
}

// dispatch asks the scheduler for placements and sends them. m.mu is held.
func (m *MapLB) dispatch() {
	if m.ctx.Err() != nil {
		return
	}
	for _, a := range m.sched.Schedule(time.Now()) {
		j := m.jobs[a.Job]
		req := &protocol.RunMap{
			Job: a.Job, Task: a.Task, Attempt: a.Attempt, Spec: j.spec, Input: j.tasks[a.Task],
			Maps: len(j.tasks), MapLB: m.RPCAddr(), ReduceLB: m.reduceLBFor(j),
		}
		addr := m.rpcOf[a.Node]
		m.changed(a.Job)
		m.Metrics.TasksStarted.WithLabelValues("map").Inc()
		if a.Backup {
			m.Metrics.TasksRetried.WithLabelValues("map", "backup").Inc()
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			err := m.Client.Call(m.ctx, addr, protocol.MethodMapRun, req, nil)
			if err == nil || m.ctx.Err() != nil {
				return
			}
			m.Log.Warn("node did not take the task", zap.String("job", a.Job), zap.Int("task", a.Task), zap.String("node", a.Node), zap.Error(err))
			m.mu.Lock()
			defer m.mu.Unlock()
			now := time.Now()
			m.sched.Reject(a.Job, a.Task, a.Attempt, now, err.Error(), now.Add(rejectBackoff))
			m.changed(a.Job)
			m.dispatch()
		}()
	}
}

func newJobID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return "j" + strconv.FormatInt(time.Now().UnixMilli(), 36) + hex.EncodeToString(b)
}

// liveNodes counts the nodes that take work. m.mu is held.
func (m *MapLB) liveNodes() (nodes, slots int) {
	for _, mem := range m.Members(cluster.RoleNode) {
		if mem.Meta.State != cluster.StateDraining {
			nodes++
			slots += max(mem.Meta.Slots, 1)
		}
	}
	return nodes, slots
}

// splitSizeFor picks a split size that gives every node a few tasks.
func (m *MapLB) splitSizeFor(asked, hint int64) int64 {
	if asked > 0 {
		return asked
	}
	if hint <= 0 {
		return defaultSplit
	}
	nodes, _ := m.liveNodes()
	s := hint / int64(4*max(nodes, 1))
	return min(max(s, minAutoSplit), maxAutoSplit)
}

func (m *MapLB) handleSubmitBegin(ctx context.Context, r *protocol.SubmitBegin) (*protocol.SubmitBeginReply, error) {
	spec := r.Spec
	spec.Bounds = nil // maplb samples them itself
	if err := checkSpecSize(&spec); err != nil {
		return nil, err
	}
	if spec.Reducers == 0 {
		spec.Reducers = 1
	}
	if spec.Reducers < 1 || spec.Reducers > job.MaxReducers {
		return nil, transport.Errorf(transport.CodeBadRequest, "--reducers %d: want 1 to %d", spec.Reducers, job.MaxReducers)
	}
	if r.SplitSize != 0 && r.SplitSize < MinSplitSize {
		return nil, transport.Errorf(transport.CodeBadRequest, "--split-size %d: want at least %d bytes", r.SplitSize, MinSplitSize)
	}
	jb, err := job.Lookup(spec.Job)
	if err != nil {
		return nil, transport.Errorf(transport.CodeBadRequest, "%v", err)
	}
	if err := jb.Validate(&spec, len(spec.Docs) > 0); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, spec.Job+": ") && !strings.HasPrefix(msg, spec.Job+" ") {
			msg = spec.Job + ": " + msg // the job named once, whatever its own error says
		}
		return nil, transport.Errorf(transport.CodeBadRequest, "%s", msg)
	}
	if spec.Stream != nil {
		if err := m.checkUserJob(ctx, &spec); err != nil {
			return nil, transport.Errorf(transport.CodeBadRequest, "%v", err)
		}
	}
	if r.SizeHint > m.Opts.MaxJobBytes {
		return nil, transport.Errorf(transport.CodeBadRequest, "%d bytes of input: this cluster takes at most %d per job (--max-job-input)", r.SizeHint, m.Opts.MaxJobBytes)
	}
	client := transport.RemoteHost(ctx)
	if len(r.Key) > maxKeyBytes {
		return nil, transport.Errorf(transport.CodeBadRequest, "submit key of %d bytes: at most %d", len(r.Key), maxKeyBytes)
	}
	id := newJobID()
	m.mu.Lock()
	if j := m.jobs[m.beginKeys[r.Key]]; r.Key != "" && j != nil {
		// The same submission again (its answer was lost): the same job.
		reply := &protocol.SubmitBeginReply{Job: j.id}
		if j.state != stateUploading {
			reply.Status = m.status(j)
		}
		m.mu.Unlock()
		return reply, nil
	}
	if n := m.unfinishedJobsOf(client); n >= m.Opts.MaxClientJobs {
		m.mu.Unlock()
		return nil, transport.Errorf(transport.CodeBusy, "client %s has %d unfinished jobs, the most allowed (--max-client-jobs): wait for some to finish", client, n)
	}
	split := m.splitSizeFor(r.SplitSize, r.SizeHint)
	m.mu.Unlock()
	j, err := newJob(id, spec, m.mode, filepath.Join(m.Opts.DataDir, "jobs", id), split)
	if err != nil {
		return nil, err
	}
	j.client, j.maxInput, j.key = client, m.Opts.MaxJobBytes, r.Key
	m.mu.Lock()
	if other := m.jobs[m.beginKeys[r.Key]]; r.Key != "" && other != nil {
		// The same submission arrived twice at once: the first one is the job.
		m.mu.Unlock()
		j.closeUploads()
		os.RemoveAll(j.dir)
		return &protocol.SubmitBeginReply{Job: other.id}, nil
	}
	m.jobs[id] = j
	m.active[id] = j
	if r.Key != "" {
		m.beginKeys[r.Key] = id
	}
	m.mu.Unlock()
	m.Log.Info("job submitted", zap.String("job", id), zap.String("kind", spec.Job), zap.Int("docs", len(spec.Docs)), zap.Int("partitions", spec.Reducers), zap.Int64("split", split))
	if r.Commit && len(spec.Docs) == 0 {
		// Nothing to upload: accepted in the same round trip.
		st, err := m.commit(j)
		if err != nil {
			return nil, err
		}
		return &protocol.SubmitBeginReply{Job: id, Status: st}, nil
	}
	return &protocol.SubmitBeginReply{Job: id}, nil
}

// Limits on a job spec, so that a client cannot make maplb hold or store
// arbitrary amounts of metadata.
const (
	maxKeyBytes   = 64
	maxDocs       = 100000
	maxNameBytes  = 4096
	maxParamBytes = 64 << 10
)

func checkSpecSize(spec *job.Spec) error {
	if len(spec.Docs) > maxDocs {
		return transport.Errorf(transport.CodeBadRequest, "%d inputs: at most %d per job", len(spec.Docs), maxDocs)
	}
	for _, d := range spec.Docs {
		if len(d) > maxNameBytes {
			return transport.Errorf(transport.CodeBadRequest, "input name of %d bytes: at most %d", len(d), maxNameBytes)
		}
	}
	n := 0
	for k, v := range spec.Params {
		n += len(k) + len(v)
	}
	if n > maxParamBytes {
		return transport.Errorf(transport.CodeBadRequest, "parameters of %d bytes: at most %d", n, maxParamBytes)
	}
	return nil
}

// unfinishedJobsOf counts a client host's jobs that are not over. m.mu is held.
func (m *MapLB) unfinishedJobsOf(client string) int {
	n := 0
	for _, j := range m.active {
		if j.client == client {
			n++
		}
	}
	return n
}

// uploading returns a job still receiving its input.
func (m *MapLB) uploading(id string) (*mjob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if d, dropped := m.droppedUp[id]; !ok && dropped {
		return nil, transport.Errorf(transport.CodeBadRequest, "job %s was refused: %s", id, d.why)
	}
	if !ok {
		return nil, transport.Errorf(transport.CodeNotFound, "no job %s", id)
	}
	if j.state != stateUploading {
		return nil, transport.Errorf(transport.CodeBadRequest, "job %s is not receiving input (it is %s)", id, j.state)
	}
	return j, nil
}

func (m *MapLB) handleUpload(ctx context.Context, r *protocol.Upload) (*protocol.Empty, error) {
	j, err := m.uploading(r.Job)
	if err != nil {
		return nil, err
	}
	if err := checkUpload(r); err != nil {
		return nil, err
	}
	if err := j.upload(ctx, r.Doc, r.Offset, r.Data); err != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if transport.CodeOf(err) == "" && m.jobs[j.id] == j && j.state == stateUploading {
			// Not the client's mistake: the disk refused (full, or failing). What the job
			// stored goes at once, so that the space is there for the next job.
			m.dropUpload(j, err.Error())
		} else if d, dropped := m.droppedUp[j.id]; dropped {
			err = transport.Errorf(transport.CodeBadRequest, "job %s was refused: %s", j.id, d.why) // while this chunk waited
		}
		return nil, err
	}
	m.Metrics.Bytes.WithLabelValues("in", "input").Add(float64(len(r.Data)))
	return &protocol.Empty{}, nil
}

func (m *MapLB) handleCommit(_ context.Context, r *protocol.Commit) (*protocol.JobStatus, error) {
	j, err := m.uploading(r.Job)
	if err != nil {
		return nil, err
	}
	return m.commit(j)
}

// commit ends a job's upload: once its record is on disk the job is
// accepted, and it starts (in mode dlbp, once reducelb knows of it, which
// the answer does not wait for).
func (m *MapLB) commit(j *mjob) (*protocol.JobStatus, error) {
	m.mu.Lock()
	_, slots := m.liveNodes()
	m.mu.Unlock()
	if err := j.commit(max(slots, 2)); err != nil {
		m.mu.Lock()
		m.endJob(j, protocol.StateFailed, err.Error())
		m.mu.Unlock()
		return nil, transport.Errorf(transport.CodeBadRequest, "%v", err)
	}
	// The job is accepted once its record is on disk: from here on no crash
	// loses it. It is queued only then (a job queued first could start, and
	// leave tasks in the scheduler, before a save that fails drops it).
	if err := m.persistNow(j, protocol.StateQueued); err != nil {
		m.mu.Lock()
		delete(m.jobs, j.id)
		delete(m.active, j.id)
		delete(m.beginKeys, j.key)
		m.mu.Unlock()
		os.RemoveAll(j.dir)
		return nil, fmt.Errorf("saving job %s: %w", j.id, err)
	}
	m.mu.Lock()
	j.state = protocol.StateQueued
	m.order = append(m.order, j.id)
	m.changed(j.id)
	m.mu.Unlock()
	m.Log.Info("job accepted", zap.String("job", j.id), zap.Int("maps", len(j.tasks)), zap.Int64("bytes", j.inputBytes))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.startQueued()
	}()
	return m.status(j), nil
}

// reduceLBFor is the reducelb a job's nodes report to: the live one (it may
// have restarted elsewhere), or none in mode single. m.mu is held.
func (m *MapLB) reduceLBFor(j *mjob) string {
	if j.mode != sched.ModeDLBP {
		return ""
	}
	if addr := m.reduceLBAddr(); addr != "" {
		return addr
	}
	return j.reduceLB
}

// resyncReduceLB tells a reducelb that (re)joined of every running job and
// of every output it may have missed. m.mu is held.
func (m *MapLB) resyncReduceLB() {
	if m.mode != sched.ModeDLBP {
		return
	}
	for _, id := range m.order {
		j := m.jobs[id]
		if j == nil || j.state != protocol.StateRunning {
			continue
		}
		for _, out := range j.outputs {
			m.forwardMapDone(j, out)
		}
	}
}

// startQueued starts the jobs that wait: in mode dlbp each needs a reduce
// load balancer, which is told of it (registered) without waiting: the
// nodes' reports of map outputs carry what reducelb needs to know of a job
// it has not heard of.
func (m *MapLB) startQueued() {
	m.mu.Lock()
	var queued []*mjob
	for _, j := range m.active {
		if j.state == protocol.StateQueued {
			queued = append(queued, j)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(queued, func(a, b *mjob) int { return a.submitted.Compare(b.submitted) }) // oldest first
	for _, j := range queued {
		reduceLB := ""
		if m.mode == sched.ModeDLBP {
			lbs := m.Members(cluster.RoleReduceLB)
			if len(lbs) == 0 {
				continue
			}
			reduceLB = lbs[0].Meta.RPC
		}
		m.mu.Lock()
		if j.state == protocol.StateQueued {
			if reduceLB != "" {
				m.register(j)
			}
			j.state, j.reduceLB = protocol.StateRunning, reduceLB
			if j.started.IsZero() {
				j.started = time.Now()
			}
			if j.restore != nil {
				m.sched.RestoreJob(j.id, j.restore, time.Now(), "maplb restarted")
				j.restore = nil
				m.resume(j)
			} else {
				m.sched.AddJob(j.id, len(j.tasks))
			}
			m.sched.SetRules(j.id, protocol.MapRules(&j.spec))
			m.Log.Info("job running", zap.String("job", j.id), zap.String("reducelb", reduceLB))
			m.changed(j.id)
			m.dispatch()
		}
		m.mu.Unlock()
	}
}

// register tells reducelb of a starting job, in the background, trying
// again until it answers or the job ends: reducelb learns where to report
// (maplb may have restarted on a new address). j.registered closes when it
// is done, so that the job's forget is not overtaken by a registration.
// m.mu is held.
func (m *MapLB) register(j *mjob) {
	done := make(chan struct{})
	j.registered = done
	msg := &protocol.RegisterJob{Job: j.id, Spec: j.spec, Maps: len(j.tasks), MapLB: m.RPCAddr()}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		wait := 100 * time.Millisecond
		for {
			m.mu.Lock()
			addr, active := m.reduceLBAddr(), m.active[msg.Job] == j
			m.mu.Unlock()
			if !active {
				return
			}
			if addr != "" {
				err := m.CallLB(m.ctx, 10*time.Second, addr, protocol.MethodJobRegister, msg, nil)
				if err == nil {
					return
				}
				if code := transport.CodeOf(err); code != "" && code != transport.CodeUnavailable {
					m.Log.Warn("reducelb refused the job's registration", zap.String("job", msg.Job), zap.Error(err))
					return
				}
				m.Log.Debug("registering job with reducelb; trying again", zap.String("job", msg.Job), zap.Duration("in", wait), zap.Error(err))
			}
			select {
			case <-time.After(wait):
			case <-m.ctx.Done():
				return
			}
			wait = min(2*wait, 2*time.Second)
		}
	}()
}

func (m *MapLB) handleInputRead(_ context.Context, r *protocol.InputRead) (*protocol.Chunk, error) {
	m.mu.Lock()
	j, ok := m.jobs[r.Job]
	m.mu.Unlock()
	if !ok || r.Doc < 0 || r.Doc >= len(j.spec.Docs) {
		return nil, transport.Errorf(transport.CodeNotFound, "no input %d of job %s", r.Doc, r.Job)
	}
	c, err := j.readInput(r.Doc, r.Offset, r.Length)
	if integrity.IsCorrupt(err) {
		// The input has no other copy: the job cannot give a right answer.
		m.Log.Error("stored input is damaged", zap.String("job", j.id), zap.Int("doc", r.Doc), zap.Error(err))
		m.mu.Lock()
		if !protocol.Terminal(j.state) {
			m.endJob(j, protocol.StateFailed, err.Error())
		}
		m.mu.Unlock()
		return nil, transport.Errorf(transport.CodeBadRequest, "%v", err)
	}
	if err == nil {
		m.Metrics.Bytes.WithLabelValues("out", "input").Add(float64(len(c.Data)))
	}
	return c, err
}

func (m *MapLB) handleMapDone(_ context.Context, r *protocol.MapDone) (*protocol.Empty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[r.Job]
	if !ok {
		return &protocol.Empty{}, nil
	}
	m.rpcOf[r.Node] = r.NodeRPC
	out := m.sched.TaskDone(r.Job, r.Task, r.Attempt, r.End)
	m.cancelAttempts(out.Cancel)
	if out.JobFailed != "" { // the last task before the input's first bad record
		m.endJob(j, protocol.StateFailed, out.JobFailed)
		return &protocol.Empty{}, nil
	}
	m.Metrics.TasksFinished.WithLabelValues("map", "superseded").Add(float64(len(out.Cancel)))
	if out.First {
		m.Metrics.TasksFinished.WithLabelValues("map", "done").Inc()
		m.Metrics.TaskSeconds.WithLabelValues("map").Observe(r.End.Sub(r.Start).Seconds())
		part := protocol.Partial{Task: r.Task, Attempt: r.Attempt, Node: r.Node, RPC: r.NodeRPC}
		j.outputs[r.Task] = part
		if m.mode == sched.ModeSingle {
			m.gatherSingle(j, part)
		} else if !r.ReachedReduceLB || j.dropped[r.Task] {
			// reducelb may have dropped this very report (its node looked
			// dead for a moment): tell it again from here.
			delete(j.dropped, r.Task)
			m.forwardMapDone(j, part)
		}
	}
	m.changed(r.Job)
	m.dispatch()
	return &protocol.Empty{}, nil
}

// gatherSingle makes this master fetch a finished map task's partials. m.mu
// is held.
func (m *MapLB) gatherSingle(j *mjob, out protocol.Partial) {
	now := time.Now()
	if j.reduces == nil {
		m.Metrics.TasksStarted.WithLabelValues("reduce").Add(float64(j.spec.Reducers))
		j.reduces = make([]sched.TaskView, j.spec.Reducers)
		for p := range j.reduces {
			j.reduces[p] = sched.TaskView{Task: p, State: sched.TaskRunning, Attempts: []sched.Attempt{{Node: m.Opts.Name, Start: now, State: sched.AttemptRunning}}}
			j.reducers = append(j.reducers, sched.Pick{Partition: p, Node: m.Opts.Name, Picked: now, Reason: "mode single: the master reduces"})
		}
	}
	for p := 0; p < j.spec.Reducers; p++ {
		m.gather.Add(j.id, p, j.spec, len(j.tasks), []protocol.Partial{out})
	}
}

// rerunUngathered re-runs, in mode single, the finished map tasks whose
// partials were on a lost node and not all fetched yet. m.mu is held.
func (m *MapLB) rerunUngathered(node string) {
	for _, id := range m.order {
		j := m.jobs[id]
		if j == nil || j.state != protocol.StateRunning {
			continue
		}
		for _, t := range m.sched.Tasks(id) {
			if t.State != sched.TaskDone {
				continue
			}
			a := t.Attempts[len(t.Attempts)-1]
			for i := len(t.Attempts) - 1; i >= 0; i-- {
				if t.Attempts[i].State == sched.AttemptDone {
					a = t.Attempts[i]
				}
			}
			if a.Node != node {
				continue
			}
			for p := 0; p < j.spec.Reducers; p++ {
				if !m.gather.Has(id, p, t.Task) {
					delete(j.outputs, t.Task)
					if m.sched.Reopen(id, t.Task, "its output was lost with node "+node) {
						m.Log.Info("map task runs again", zap.String("job", id), zap.Int("task", t.Task), zap.String("lost", node))
						m.changed(id)
					}
					break
				}
			}
		}
	}
}

// partialDamaged runs again, in mode single, a map task whose partial failed its check as this
// master fetched it (its holder's disk damaged it), if that attempt is still the task's output.
func (m *MapLB) partialDamaged(id string, p int, pt protocol.Partial, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || j.state != protocol.StateRunning {
		return
	}
	if ai, a, done := m.sched.Winner(id, pt.Task); !done || ai != pt.Attempt || a.Node != pt.Node {
		return // already run again
	}
	delete(j.outputs, pt.Task)
	if m.sched.Reopen(id, pt.Task, "its partial was damaged on "+pt.Node) {
		m.Metrics.TasksRetried.WithLabelValues("map", "output damaged").Inc()
		m.Log.Warn("a partial is damaged on its holder: its map task runs again", zap.String("job", id), zap.Int("task", pt.Task),
			zap.String("holder", pt.Node), zap.Error(err))
		m.changed(id)
		m.dispatch()
	}
}

// partReduced records a partition this master reduced (mode single).
func (m *MapLB) partReduced(id string, p int, size int64, err error, _ bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || protocol.Terminal(j.state) {
		return
	}
	now := time.Now()
	a := &j.reduces[p].Attempts[len(j.reduces[p].Attempts)-1]
	a.End = now
	m.Metrics.TaskSeconds.WithLabelValues("reduce").Observe(now.Sub(a.Start).Seconds())
	if err != nil {
		m.Metrics.TasksFinished.WithLabelValues("reduce", "failed").Inc()
		a.State, a.Reason = sched.AttemptFailed, err.Error()
		if tries := len(j.reduces[p].Attempts); job.IsUserError(err) && tries < j.spec.Stream.Attempts() {
			// The user's reducer failed: run it again, as reducelb would.
			m.Metrics.TasksRetried.WithLabelValues("reduce", "failed").Inc()
			j.reduces[p].Attempts = append(j.reduces[p].Attempts, sched.Attempt{Node: m.Opts.Name, Start: now, State: sched.AttemptRunning})
			m.gather.Retry(id, p)
			m.changed(id)
			return
		}
		j.reduces[p].State = sched.TaskFailed
		if job.IsUserError(err) {
			m.endJob(j, protocol.StateFailed, fmt.Sprintf("reduce partition %d failed %d times, last: %v", p, len(j.reduces[p].Attempts), err))
			return
		}
		m.endJob(j, protocol.StateFailed, fmt.Sprintf("reduce partition %d: %v", p, err))
		return
	}
	a.State = sched.AttemptDone
	m.Metrics.TasksFinished.WithLabelValues("reduce", "done").Inc()
	j.reduces[p].State = sched.TaskDone
	// A partition may be reported twice (its gathering restarted after a
	// lost node): it counts once.
	j.parts = slices.DeleteFunc(j.parts, func(l protocol.PartLocation) bool { return l.Partition == p })
	j.parts = append(j.parts, protocol.PartLocation{Partition: p, Node: m.Opts.Name, RPC: m.RPCAddr(), Size: size})
	if len(j.parts) == j.spec.Reducers {
		m.endJob(j, protocol.StateSucceeded, "")
		return
	}
	m.changed(id)
}

func (m *MapLB) handleMapFailed(_ context.Context, r *protocol.MapFailed) (*protocol.Empty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[r.Job]
	if !ok {
		return &protocol.Empty{}, nil
	}
	m.Log.Warn("map task failed", zap.String("job", r.Job), zap.Int("task", r.Task), zap.Int("attempt", r.Attempt), zap.String("node", r.Node), zap.String("reason", r.Reason))
	out := m.sched.TaskFailed(r.Job, r.Task, r.Attempt, time.Now(), r.Reason, protocol.Fault(r.Permanent, r.User))
	m.cancelAttempts(out.Cancel)
	if out.Paused != "" {
		m.Log.Warn("node paused after a streak of failures: it gets no work for a while", zap.String("node", out.Paused))
		m.Metrics.NodePauses.Inc()
	}
	m.Metrics.TasksFinished.WithLabelValues("map", "failed").Inc()
	if out.JobFailed == "" {
		m.Metrics.TasksRetried.WithLabelValues("map", "failed").Inc()
	}
	if out.JobFailed != "" {
		m.endJob(j, protocol.StateFailed, out.JobFailed)
		return &protocol.Empty{}, nil
	}
	m.changed(r.Job)
	m.dispatch()
	return &protocol.Empty{}, nil
}

func (m *MapLB) handleReduceProgress(_ context.Context, r *protocol.ReduceProgress) (*protocol.Empty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[r.Job]
	if !ok || protocol.Terminal(j.state) {
		return &protocol.Empty{}, nil
	}
	j.reduces, j.reducers, j.parts = r.Reduces, r.Reducers, r.Parts
	for _, t := range r.Rerun {
		delete(j.outputs, t)
		if _, _, done := m.sched.Winner(r.Job, t); !done {
			if j.dropped == nil {
				j.dropped = map[int]bool{}
			}
			j.dropped[t] = true
		}
		const why = "its output was lost with its node, or damaged on its disk"
		reopened := false
		if j.restore != nil {
			// Recovered after a restart and not scheduled yet: the task
			// is queued again when the job resumes.
			reopened = t >= 0 && t < len(j.restore) && sched.ReopenView(&j.restore[t], why)
		} else {
			reopened = m.sched.Reopen(r.Job, t, why)
		}
		if reopened {
			m.Metrics.TasksRetried.WithLabelValues("map", "output lost").Inc()
			m.Log.Info("map task runs again", zap.String("job", r.Job), zap.Int("task", t))
		}
	}
	switch {
	case r.Failed != "":
		m.endJob(j, protocol.StateFailed, r.Failed)
	case r.Done:
		m.endJob(j, protocol.StateSucceeded, "")
	default:
		m.changed(r.Job)
		m.dispatch()
	}
	return &protocol.Empty{}, nil
}

// cancelAttempts tells nodes to stop attempts nobody needs. m.mu is held.
func (m *MapLB) cancelAttempts(as []sched.AttemptRef) {
	for _, a := range as {
		addr := m.rpcOf[a.Node]
		req := &protocol.CancelMap{Job: a.Job, Task: a.Task, Attempt: a.Attempt}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.Client.Call(m.ctx, addr, protocol.MethodMapCancel, req, nil)
		}()
	}
}

// endJob moves a job to a final state, stops its tasks and lets every
// daemon drop its intermediate data. m.mu is held.
func (m *MapLB) endJob(j *mjob, state, reason string) {
	if protocol.Terminal(j.state) {
		return
	}
	now := time.Now()
	delete(m.active, j.id)
	m.cancelAttempts(m.sched.StopJob(j.id, now, "job "+state))
	j.maps = m.sched.Tasks(j.id)
	m.sched.Forget(j.id)
	j.state, j.err, j.finished = state, reason, now
	for i := range j.reduces { // as reducelb last told them: none runs once the job ended
		for k := range j.reduces[i].Attempts {
			if a := &j.reduces[i].Attempts[k]; a.State == sched.AttemptRunning {
				a.State, a.End, a.Reason = sched.AttemptFailed, now, "job "+state
			}
		}
		if j.reduces[i].State == sched.TaskRunning {
			j.reduces[i].State = sched.TaskFailed
		}
	}
	m.Metrics.JobSeconds.WithLabelValues(j.spec.Job, state).Observe(now.Sub(j.submitted).Seconds())
	if j.started.IsZero() {
		j.started = now
	}
	log := m.Log.With(zap.String("job", j.id), zap.String("state", state), zap.Duration("took", now.Sub(j.submitted)))
	if reason != "" {
		log.Warn("job ended", zap.String("reason", reason))
	} else {
		log.Info("job ended")
	}
	j.closeUploads()
	m.changed(j.id)
	m.gather.Forget(j.id)
	// Removing the input (and gathered partials) takes a while for large
	// files: not under m.mu, which would keep the client waiting for its
	// answer. (After a restart, expiry removes what was left.)
	input, jobID := j.inputDir(), j.id
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := os.RemoveAll(input); err != nil {
			m.Log.Warn("removing job input", zap.String("job", jobID), zap.Error(err))
		}
		if err := m.layout.ForgetIntermediate(jobID); err != nil {
			m.Log.Warn("removing gathered partials", zap.String("job", jobID), zap.Error(err))
		}
	}()
	var addrs []string
	for _, a := range m.rpcOf {
		addrs = append(addrs, a)
	}
	reduceLB := ""
	if j.mode == sched.ModeDLBP {
		reduceLB = m.reduceLBAddr()
	}
	id, registered := j.id, j.registered
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if registered != nil {
			select { // a registration that arrived after the forget would keep the job at reducelb
			case <-registered:
			case <-m.ctx.Done():
				return
			}
		}
		for _, addr := range addrs {
			ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
			m.Client.Call(ctx, addr, protocol.MethodJobForget, &protocol.JobForget{Job: id}, nil)
			cancel()
		}
		if reduceLB != "" {
			m.CallLB(m.ctx, 5*time.Second, reduceLB, protocol.MethodJobForget, &protocol.JobForget{Job: id}, nil)
		}
	}()
}

// changed wakes everyone waiting on a job. m.mu is held.
func (m *MapLB) changed(id string) {
	if j, ok := m.jobs[id]; ok {
		close(j.change)
		j.change = make(chan struct{})
		m.persist(id)
	}
}

func (m *MapLB) job(id string) (*mjob, error) {
	j, ok := m.jobs[id]
	if at, expired := m.gone[id]; expired {
		return nil, transport.Errorf(transport.CodeNotFound, "job %s expired at %s (results are kept %s)", id, at.Format(time.RFC3339), m.Opts.ResultKeep)
	}
	if !ok || j.state == stateUploading {
		return nil, transport.Errorf(transport.CodeNotFound, "no job %s", id)
	}
	return j, nil
}

func (m *MapLB) handleWait(ctx context.Context, r *protocol.Wait) (*protocol.JobStatus, error) {
	timeout := min(max(r.Timeout, 0), maxWaitDuration)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		j, err := m.job(r.Job)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		if protocol.Terminal(j.state) {
			defer m.mu.Unlock()
			return m.status(j), nil
		}
		change := j.change
		m.mu.Unlock()
		select {
		case <-change:
		case <-deadline.C:
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.status(j), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (m *MapLB) handleStatus(_ context.Context, r *protocol.JobRef) (*protocol.JobStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.job(r.Job)
	if err != nil {
		return nil, err
	}
	return m.status(j), nil
}

func (m *MapLB) handleList(context.Context, *protocol.Empty) (*protocol.JobList, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &protocol.JobList{}
	for _, id := range m.order {
		st := m.status(m.jobs[id])
		st.Maps, st.Reduces, st.Reducers, st.Parts = nil, nil, nil, nil
		out.Jobs = append(out.Jobs, *st)
	}
	return out, nil
}

func (m *MapLB) handleCancel(_ context.Context, r *protocol.JobRef) (*protocol.JobStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.job(r.Job)
	if err != nil {
		return nil, err
	}
	m.endJob(j, protocol.StateCancelled, "cancelled by a client")
	return m.status(j), nil
}

// status reports a job. m.mu is held.
func (m *MapLB) status(j *mjob) *protocol.JobStatus {
	st := &protocol.JobStatus{
		ID: j.id, Job: j.spec.Job, Params: j.spec.Params, Stream: j.spec.Stream, Mode: string(j.mode), State: j.state, Error: j.err,
		Partitions: j.spec.Reducers, InputBytes: j.inputBytes,
		Submitted: j.submitted, Started: j.started, Finished: j.finished,
		Maps: j.maps, Reduces: cloneViews(j.reduces), Reducers: slices.Clone(j.reducers), // changed in place under m.mu; the answer is encoded after it is released
	}
	if j.state == protocol.StateRunning {
		st.Maps = m.sched.Tasks(j.id)
	}
	st.Waiting = m.waiting(j)
	if j.state == protocol.StateSucceeded {
		st.Parts = slices.Clone(j.parts)
		slices.SortFunc(st.Parts, func(a, b protocol.PartLocation) int { return a.Partition - b.Partition })
	}
	if st.Maps == nil {
		st.Maps = []sched.TaskView{}
	}
	st.MapsTotal = len(j.tasks)
	for _, t := range st.Maps {
		if t.State == sched.TaskDone {
			st.MapsDone++
		}
	}
	for _, t := range st.Reduces {
		if t.State == sched.TaskDone {
			st.ReducesDone++
		}
	}
	return st
}

func (m *MapLB) handleNodes(ctx context.Context, _ *protocol.Empty) (*protocol.NodeList, error) {
	if m.Cluster == nil { // serving RPC already, not yet in the cluster
		return nil, transport.Errorf(transport.CodeUnavailable, "maplb %s is starting: not in the cluster yet", m.Opts.Name)
	}
	out := &protocol.NodeList{}
	m.mu.Lock()
	for _, mem := range m.Cluster.Members() {
		if mem.Meta.Role == cluster.RoleNode && m.deadBoot[mem.Name] == mem.Meta.Boot {
			continue // its probe knows it gone before gossip does
		}
		n := protocol.NodeInfo{Name: mem.Name, Role: string(mem.Meta.Role), RPC: mem.Meta.RPC, State: string(mem.Meta.State), Slots: mem.Meta.Slots}
		if mem.Meta.Role == cluster.RoleNode {
			n.Running = m.sched.Running(mem.Name)
		}
		out.Nodes = append(out.Nodes, n)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for i := range out.Nodes {
		if out.Nodes[i].Role != string(cluster.RoleNode) {
			continue
		}
		wg.Add(1)
		go func(n *protocol.NodeInfo) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			var st protocol.NodeStatus
			if err := m.Client.Call(cctx, n.RPC, protocol.MethodNodeState, &protocol.Empty{}, &st); err == nil {
				n.Running, n.Slots = st.Running, st.Slots
			}
		}(&out.Nodes[i])
	}
	wg.Wait()
	sort.Slice(out.Nodes, func(a, b int) bool { return out.Nodes[a].Name < out.Nodes[b].Name })
	return out, nil
}

func (m *MapLB) handleResultRead(ctx context.Context, r *protocol.ResultRead) (*protocol.Chunk, error) {
	m.mu.Lock()
	j, err := m.job(r.Job)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if j.state != protocol.StateSucceeded {
		m.mu.Unlock()
		return nil, transport.Errorf(transport.CodeBadRequest, "job %s has no result: it is %s", r.Job, j.state)
	}
	var loc *protocol.PartLocation
	for i := range j.parts {
		if j.parts[i].Partition == r.Partition {
			loc = &j.parts[i]
		}
	}
	m.mu.Unlock()
	if loc == nil {
		return nil, transport.Errorf(transport.CodeNotFound, "job %s has no part %d", r.Job, r.Partition)
	}
	if loc.Inline {
		c, err := inlineChunk(loc.Data, r.Offset)
		if err == nil {
			m.Metrics.Bytes.WithLabelValues("out", "result").Add(float64(len(c.Data)))
		}
		return c, err
	}
	if loc.Node == m.Opts.Name {
		c, err := shuffle.ReadChunk(m.layout.ResultPath(r.Job, r.Partition), r.Offset)
		if err == nil {
			m.Metrics.Bytes.WithLabelValues("out", "result").Add(float64(len(c.Data)))
		}
		return c, err
	}
	var c protocol.Chunk
	defer func() { m.Metrics.Bytes.WithLabelValues("out", "result").Add(float64(len(c.Data))) }()
	err = m.Client.Call(ctx, loc.RPC, protocol.MethodResultRead, r, &c)
	if err != nil && loc.CopyRPC != "" && ctx.Err() == nil {
		// The reducer is gone (or lost the file): read the copy.
		first := err
		if err = m.Client.Call(ctx, loc.CopyRPC, protocol.MethodResultRead, r, &c); err == nil {
			m.Log.Info("result read from the copy", zap.String("job", r.Job), zap.Int("partition", r.Partition), zap.String("reducer", loc.Node), zap.String("copy", loc.Copy), zap.NamedError("reducer_error", first))
		} else {
			err = fmt.Errorf("%v; its copy on %s: %v", first, loc.Copy, err)
		}
	}
	if err != nil {
		return nil, transport.Errorf(transport.CodeUnavailable, "part %d of job %s is on %s, which did not answer: %v", r.Partition, r.Job, loc.Node, err)
	}
	return &c, nil
}

// inlineChunk serves a chunk of a part kept inline.
func inlineChunk(data []byte, off int64) (*protocol.Chunk, error) {
	if off < 0 || off > int64(len(data)) {
		return nil, transport.Errorf(transport.CodeBadRequest, "offset %d outside a part of %d bytes", off, len(data))
	}
	end := min(off+protocol.ChunkSize, int64(len(data)))
	return &protocol.Chunk{Data: data[off:end], EOF: end == int64(len(data))}, nil
}

// Shutdown leaves the cluster and stops. Accepted jobs are on disk: a
// maplb started again on the same data directory finishes them.
func (m *MapLB) Shutdown(ctx context.Context) error {
	m.Base.Leave(5 * time.Second)
	return m.Close()
}

// Close stops at once.
func (m *MapLB) Close() error {
	m.cancel()
	m.Base.StopSoon()
	m.gather.Close()
	m.wg.Wait()
	m.user.rt.Close(context.Background())
	m.mu.Lock()
	for _, j := range m.jobs {
		j.closeUploads()
	}
	m.mu.Unlock()
	return m.db.Close()
}
