package maplb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/store"
	"github.com/dlbp/dlbp/pkg/transport"
)

// stateUploading is a job whose input is still arriving; clients do not
// see it until the upload is committed.
const stateUploading = "uploading"

// mjob is maplb's record of one job. Fields are guarded by MapLB.mu, except
// the upload files, guarded by upMu (uploads write without holding the
// daemon's lock).
type mjob struct {
	id        string
	spec      job.Spec
	mode      sched.Mode
	dir       string
	splitSize int64
	client    string // host the job came from
	key       string // SubmitBegin.Key of the submission that opened it
	maxInput  int64  // input bytes the job may upload

	state      string
	err        string
	submitted  time.Time
	started    time.Time
	finished   time.Time
	tasks      []job.Task
	inputBytes int64
	reduceLB   string
	registered chan struct{} // closed when reducelb was told of the job (mode dlbp)
	change     chan struct{} // closed on every change

	maps     []sched.TaskView         // kept when the job ends
	restore  []sched.TaskView         // map tasks of a job recovered after a restart
	outputs  map[int]protocol.Partial // where each finished map task's output is
	dropped  map[int]bool             // tasks reducelb lost the output of before this maplb saw them finish
	reduces  []sched.TaskView
	reducers []sched.Pick
	parts    []protocol.PartLocation

	upMu     sync.Mutex
	upCond   *sync.Cond // chunks waiting for the ones before them
	touched  time.Time  // last upload activity
	uploaded int64      // bytes received, all documents
	files    []*os.File
	sizes    []int64
	cutters  []*job.Cutter
	upSums   []*docSums // the block checksums of what arrived (input.go)

	sumMu sync.Mutex
	sums  map[int][]uint32 // block checksums of the stored documents, read once (input.go)
}

func newJob(id string, spec job.Spec, mode sched.Mode, dir string, splitSize int64) (*mjob, error) {
	j := &mjob{
		id: id, spec: spec, mode: mode, dir: dir, splitSize: splitSize,
		state: stateUploading, submitted: time.Now(), touched: time.Now(), change: make(chan struct{}),
		outputs: map[int]protocol.Partial{},
		files:   make([]*os.File, len(spec.Docs)), sizes: make([]int64, len(spec.Docs)),
		cutters: make([]*job.Cutter, len(spec.Docs)), upSums: make([]*docSums, len(spec.Docs)),
	}
	if len(spec.Docs) > 0 {
		if err := os.MkdirAll(j.inputDir(), 0o755); err != nil {
			return nil, fmt.Errorf("job %s: %w", id, err)
		}
	}
	for i := range spec.Docs {
		f, err := os.Create(j.docPath(i))
		if err != nil {
			j.closeUploads()
			return nil, fmt.Errorf("job %s: %w", id, err)
		}
		j.files[i] = f
		j.cutters[i] = job.NewCutter(i, splitSize)
		j.upSums[i] = &docSums{}
	}
	return j, nil
}

func (j *mjob) inputDir() string { return filepath.Join(j.dir, "input") }

func (j *mjob) docPath(doc int) string {
	return filepath.Join(j.inputDir(), fmt.Sprintf("doc-%05d", doc))
}

// upload appends a chunk to a document; chunks must come in order.
//
// A client may keep a few chunks in flight (their requests then run
// concurrently here): a chunk that arrives early waits, up to a window and
// a time limit, for those before it.
func (j *mjob) upload(ctx context.Context, doc int, off int64, data []byte) error {
	j.upMu.Lock()
	defer j.upMu.Unlock()
	if doc < 0 || doc >= len(j.files) || j.files[doc] == nil {
		return transport.Errorf(transport.CodeBadRequest, "job %s has no document %d open for upload", j.id, doc)
	}
	if j.uploaded+int64(len(data)) > j.maxInput {
		return transport.Errorf(transport.CodeBadRequest, "job %s: input exceeds %d bytes, the most this cluster takes per job (--max-job-input)", j.id, j.maxInput)
	}
	if off > j.sizes[doc] && off-j.sizes[doc] <= uploadWindow {
		if j.upCond == nil {
			j.upCond = sync.NewCond(&j.upMu)
		}
		wake := func() {
			j.upMu.Lock()
			j.upCond.Broadcast()
			j.upMu.Unlock()
		}
		stop := context.AfterFunc(ctx, wake)
		timer := time.AfterFunc(uploadWait, wake)
		start := time.Now()
		for off > j.sizes[doc] && j.files[doc] != nil && ctx.Err() == nil && time.Since(start) < uploadWait {
			j.upCond.Wait()
		}
		stop()
		timer.Stop()
		if j.files[doc] == nil {
			return transport.Errorf(transport.CodeBadRequest, "job %s has no document %d open for upload", j.id, doc)
		}
	}
	if off != j.sizes[doc] {
		return transport.Errorf(transport.CodeBadRequest, "document %d of job %s: chunk at offset %d, expected %d", doc, j.id, off, j.sizes[doc])
	}
	if j.upCond != nil {
		defer j.upCond.Broadcast()
	}
	if _, err := j.files[doc].Write(data); err != nil {
		return fmt.Errorf("storing input of job %s: %w", j.id, err)
	}
	j.cutters[doc].Write(data)
	j.upSums[doc].add(data)
	j.sizes[doc] += int64(len(data))
	j.uploaded += int64(len(data))
	j.touched = time.Now()
	return nil
}

// commit makes the input durable and cuts the map tasks: the splits of
// every document, or for a job without input, its generated tasks (about
// n of them).
func (j *mjob) commit(n int) error {
	j.upMu.Lock()
	defer j.upMu.Unlock()
	for i, f := range j.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("storing input of job %s: %w", j.id, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("storing input of job %s: %w", j.id, err)
		}
		if err := j.writeSums(i); err != nil {
			return fmt.Errorf("storing input of job %s: %w", j.id, err)
		}
		j.files[i] = nil
		j.tasks = append(j.tasks, j.cutters[i].Close()...)
		j.inputBytes += j.sizes[i]
	}
	if len(j.files) > 0 {
		// The documents' names, and the job's directory, are durable once their directories
		// are synced.
		for _, dir := range []string{j.inputDir(), j.dir, filepath.Dir(j.dir)} {
			if err := store.SyncDir(dir); err != nil {
				return fmt.Errorf("storing input of job %s: %w", j.id, err)
			}
		}
	}
	if len(j.spec.Docs) == 0 {
		jb, err := job.Lookup(j.spec.Job)
		if err != nil {
			return err
		}
		gen, ok := jb.(job.Generator)
		if !ok {
			return fmt.Errorf("%s needs input", j.spec.Job)
		}
		if j.tasks, err = gen.GenerateTasks(&j.spec, n); err != nil {
			return err
		}
	}
	if err := j.sampleBounds(); err != nil {
		return err
	}
	if len(j.tasks) > job.MaxMapTasks {
		return fmt.Errorf("the input makes %d map tasks, more than %d: give a larger --split-size", len(j.tasks), job.MaxMapTasks)
	}
	if len(j.tasks) == 0 {
		// Only empty documents: one empty task still runs the job, so that
		// jobs such as sum print their answer for no input.
		j.tasks = []job.Task{{Doc: 0, FirstLine: 1}}
	}
	return nil
}

// idleSince reports when the upload last made progress.
func (j *mjob) idleSince() time.Time {
	j.upMu.Lock()
	defer j.upMu.Unlock()
	return j.touched
}

// samplesPerPartition is how many input lines per partition a
// range-partitioned job samples to place its boundaries.
const samplesPerPartition = 200

// sampleBounds sets the partition boundaries of a range-partitioned job
// (sort) from a sample of its stored input, read in small pieces. Every
// attempt of every task then partitions alike: the bounds are in the spec.
func (j *mjob) sampleBounds() error {
	jb, err := job.Lookup(j.spec.Job)
	if err != nil {
		return err
	}
	sampler, ok := jb.(job.Sampler)
	if !ok || j.spec.Reducers < 2 || j.inputBytes == 0 {
		return nil
	}
	want := samplesPerPartition * j.spec.Reducers
	var sample [][]byte
	for doc, size := range j.sizes {
		n := int(int64(want) * size / j.inputBytes)
		if n == 0 && size > 0 {
			n = 1
		}
		f, err := os.Open(j.docPath(doc))
		if err != nil {
			return fmt.Errorf("sampling input of job %s: %w", j.id, err)
		}
		lines, err := job.SampleLines(f, size, n)
		f.Close()
		if err != nil {
			return fmt.Errorf("sampling input of job %s: %w", j.id, err)
		}
		sample = append(sample, lines...)
	}
	j.spec.Bounds = sampler.Bounds(sample, j.spec.Reducers)
	return nil
}

// A chunk may arrive this far ahead of the document's end, and wait this
// long for the chunks before it.
const (
	uploadWindow = 64 << 20
	uploadWait   = 30 * time.Second
)

// closeUploads closes files left open by an abandoned upload.
func (j *mjob) closeUploads() {
	j.upMu.Lock()
	defer j.upMu.Unlock()
	for i, f := range j.files {
		if f != nil {
			f.Close()
			j.files[i] = nil
		}
	}
}
