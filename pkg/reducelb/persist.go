package reducelb

import (
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/store"
)

const bucketJobs = "jobs"

// jobRecord is what survives a restart of reducelb: the reducer table and
// where every known partial is, so reducers are not picked twice.
type jobRecord struct {
	Spec  job.Spec                      `msgpack:"spec"`
	Maps  int                           `msgpack:"maps"`
	MapLB string                        `msgpack:"maplb"`
	Parts map[int]protocol.PartLocation `msgpack:"parts"`
	Done  bool                          `msgpack:"done"`
	Fail  string                        `msgpack:"fail"`
	Sched sched.ReduceJobState          `msgpack:"sched"`
	RPCOf map[string]string             `msgpack:"rpc"`
}

// persist schedules a job's record to be written. r.mu is held.
func (r *ReduceLB) persist(id string) {
	r.unsaved[id] = true
	select {
	case r.saveKick <- struct{}{}:
	default:
	}
}

func (r *ReduceLB) saver() {
	defer r.wg.Done()
	daemon.RunSaver(r.ctx, r.saveKick, r.save)
}

// save writes the records of changed jobs, outside the daemon's lock, and reports whether it
// did. A failed write keeps them unsaved, to be written again, and turns /readyz red until a
// write succeeds.
func (r *ReduceLB) save() bool {
	r.mu.Lock()
	puts, deletes := map[string]any{}, []string(nil)
	for id := range r.unsaved {
		j, ok := r.jobs[id]
		if !ok {
			deletes = append(deletes, id)
			continue
		}
		st, _ := r.sched.Snapshot(id)
		rec := &jobRecord{Spec: j.spec, Maps: j.maps, MapLB: j.maplb, Parts: maps.Clone(j.parts), Done: j.done, Fail: j.fail, Sched: st, RPCOf: map[string]string{}}
		for _, o := range st.Outputs {
			rec.RPCOf[o.Node] = r.rpcOf[o.Node]
		}
		for _, p := range st.Parts {
			if p.Reducer != "" {
				rec.RPCOf[p.Reducer] = r.rpcOf[p.Reducer]
			}
		}
		puts[id] = rec
	}
	clear(r.unsaved)
	r.mu.Unlock()
	err := r.db.Write(bucketJobs, puts, deletes)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saved.Wrote(r.Log, len(puts)+len(deletes), err) {
		return true
	}
	for id := range puts {
		r.unsaved[id] = true
	}
	for _, id := range deletes {
		r.unsaved[id] = true
	}
	return false
}

// load restores the jobs of a previous run into the scheduler.
func (r *ReduceLB) load() error {
	var unreadable []string
	err := r.db.Each(bucketJobs, func(id string, decode func(any) error) error {
		var rec jobRecord
		if err := decode(&rec); err != nil {
			r.Log.Error("a job's record cannot be read: it is moved aside (maplb still has the job)",
				zap.String("job", id), zap.String("bucket", bucketJobs+store.AsideSuffix), zap.Error(err))
			unreadable = append(unreadable, id)
			return nil
		}
		j := &rjob{spec: rec.Spec, maps: rec.Maps, maplb: rec.MapLB, parts: rec.Parts, done: rec.Done, fail: rec.Fail}
		if j.parts == nil {
			j.parts = map[int]protocol.PartLocation{}
		}
		r.jobs[id] = j
		r.sched.Restore(rec.Sched)
		r.sched.SetRules(id, protocol.ReduceRules(&rec.Spec))
		for n, a := range rec.RPCOf {
			if _, ok := r.rpcOf[n]; !ok && a != "" {
				r.rpcOf[n] = a
			}
		}
		r.Log.Info("job recovered", zap.String("job", id), zap.Int("outputs", len(rec.Sched.Outputs)))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range unreadable {
		if err := r.db.MoveAside(bucketJobs, id); err != nil {
			return err
		}
	}
	return nil
}

// resumeAll sends again what recovered jobs need: their reducers hear of
// every partial (or are picked again when gone), and maplb hears the
// progress. r.mu is held.
func (r *ReduceLB) resumeAll() {
	for id := range r.jobs {
		r.carryOut(id, r.sched.Resume(id, time.Now()))
	}
}
