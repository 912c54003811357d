package maplb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/dlbp/dlbp/pkg/blob"
	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/transport"
	"github.com/dlbp/dlbp/pkg/usercode"
)

// userCode is what maplb keeps for user jobs: the blobs (modules and --files) clients upload,
// each once whatever the number of jobs that use it, which nodes fetch from here; and a runtime
// that checks modules at submit and, in mode single, runs the reducers.
type userCode struct {
	blobs *blob.Store
	rt    *usercode.Runtime

	mu      sync.Mutex
	checked map[string]error // module digest → what checking it said
}

// maxStatDigests bounds one blob.stat request.
const maxStatDigests = 256

func (m *MapLB) startUserCode() error {
	blobs, err := blob.Open(filepath.Join(m.Opts.DataDir, "blobs"), protocol.MaxBlobSize)
	if err != nil {
		return err
	}
	// Working directories of native reducers (mode single) that a crash left behind.
	if err := os.RemoveAll(filepath.Join(m.Opts.DataDir, "tasks")); err != nil {
		return err
	}
	rt, err := usercode.New(usercode.Config{
		Dir: m.Opts.DataDir, MemoryLimit: m.Opts.TaskMemoryBytes, MaxOutput: m.Opts.MaxTaskOutputBytes, AllowExec: m.Opts.AllowExec, CacheDir: m.Opts.ModuleCache,
		Blob: func(_ context.Context, digest string) (string, error) {
			if !blobs.Has(digest) {
				return "", fmt.Errorf("blob %.12s is not on maplb", digest)
			}
			return blobs.Path(digest), nil
		},
		OnCompile: m.Metrics.ModuleCompiles.Inc,
		Log:       m.Log,
	})
	if err != nil {
		return err
	}
	m.user = &userCode{blobs: blobs, rt: rt, checked: map[string]error{}}
	s := m.Server
	transport.Handle(s, protocol.MethodBlobStat, func(_ context.Context, r *protocol.BlobStat) (*protocol.BlobStatReply, error) {
		if len(r.Digests) > maxStatDigests {
			return nil, transport.Errorf(transport.CodeBadRequest, "%d digests: at most %d at once", len(r.Digests), maxStatDigests)
		}
		for _, d := range r.Digests {
			if !job.ValidDigest(d) {
				return nil, transport.Errorf(transport.CodeBadRequest, "%.80q is not a hex SHA-256", d)
			}
		}
		return &protocol.BlobStatReply{Missing: blobs.Missing(r.Digests)}, nil
	})
	transport.Handle(s, protocol.MethodBlobPut, func(_ context.Context, r *protocol.BlobPut) (*protocol.Empty, error) {
		if err := blobs.Put(r.Digest, r.Offset, r.Data, r.Last, r.Size); err != nil {
			return nil, transport.Errorf(transport.CodeBadRequest, "%v", err)
		}
		m.Metrics.Bytes.WithLabelValues("in", "blob").Add(float64(len(r.Data)))
		return &protocol.Empty{}, nil
	})
	transport.Handle(s, protocol.MethodBlobRead, func(_ context.Context, r *protocol.BlobRead) (*protocol.Chunk, error) {
		if !job.ValidDigest(r.Digest) {
			return nil, transport.Errorf(transport.CodeBadRequest, "%.80q is not a hex SHA-256", r.Digest)
		}
		c, err := shuffle.ReadChunk(blobs.Path(r.Digest), r.Offset)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, transport.Errorf(transport.CodeNotFound, "no blob %.12s here", r.Digest)
		}
		if err == nil {
			m.Metrics.Bytes.WithLabelValues("out", "blob").Add(float64(len(c.Data)))
		}
		return c, err
	})
	return nil
}

// checkUserJob checks, before anything of a user job is stored, that its modules and files were
// uploaded, that every module is a WASI command importing nothing the nodes lack, and that
// someone can run its native programs.
func (m *MapLB) checkUserJob(ctx context.Context, spec *job.Spec) error {
	st := spec.Stream
	for _, c := range st.Commands() {
		if c.Native() {
			continue
		}
		if !m.user.blobs.Has(c.Module) {
			return fmt.Errorf("module %s (%s) was not uploaded", c.Args[0], c.Module)
		}
		if err := m.checkModule(ctx, c); err != nil {
			return err
		}
	}
	for _, f := range st.Files {
		if !m.user.blobs.Has(f.Digest) {
			return fmt.Errorf("--file %s (%s) was not uploaded", f.Name, f.Digest)
		}
	}
	if protocol.MapRules(spec).NeedsExec && !m.anyExecNode() {
		return fmt.Errorf("this job runs native programs (%s), but no live node allows them: start nodes with --allow-exec, or build the programs as WebAssembly (GOOS=wasip1 GOARCH=wasm)", nativeCommands(st))
	}
	if st.Reducer.Native() {
		if m.mode == sched.ModeSingle && !m.Opts.AllowExec {
			return fmt.Errorf("the reducer %q is a native program, and in mode single maplb runs reducers: start maplb with --allow-exec, or build it as WebAssembly", st.Reducer.String())
		}
		if m.mode == sched.ModeDLBP && !m.anyExecNode() {
			return fmt.Errorf("the reducer %q is a native program, but no live node allows them: start nodes with --allow-exec, or build it as WebAssembly", st.Reducer.String())
		}
	}
	return nil
}

// checkModule checks a module once per digest (the answer does not change).
func (m *MapLB) checkModule(ctx context.Context, c job.Command) error {
	m.user.mu.Lock()
	err, done := m.user.checked[c.Module]
	m.user.mu.Unlock()
	if done {
		return err
	}
	wasm, err := os.ReadFile(m.user.blobs.Path(c.Module))
	if err != nil {
		return err
	}
	err = m.user.rt.Check(ctx, wasm, c.Args[0])
	if ctx.Err() != nil {
		return err // not an answer about the module
	}
	m.user.mu.Lock()
	m.user.checked[c.Module] = err
	m.user.mu.Unlock()
	return err
}

// anyExecNode reports whether a live node runs native programs.
func (m *MapLB) anyExecNode() bool {
	for _, mem := range m.Members(cluster.RoleNode) {
		if mem.Meta.Exec && mem.Meta.State != cluster.StateDraining {
			return true
		}
	}
	return false
}

func nativeCommands(st *job.Stream) string {
	var out []string
	for _, c := range st.Commands() {
		if c.Native() {
			out = append(out, "'"+c.String()+"'")
		}
	}
	return fmt.Sprint(out)
}
