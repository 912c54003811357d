// Package client is the Go client of a dlbp cluster: submit a job and its
// input, wait for it, read its result, and ask about jobs and nodes. The
// dlbp command is a thin shell around it.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/transport"
)

// Where a client reads the parts of a result (Client.Fetch).
const (
	// FetchDirect reads each part from the node that holds it (or its
	// copy), and through maplb when neither answers: the result does not
	// cross maplb's link. The default.
	FetchDirect = "direct"
	// FetchLB reads every part through maplb.
	FetchLB = "lb"
)

// Client talks to one map load balancer.
type Client struct {
	LB string
	// Fetch is FetchDirect (also when empty) or FetchLB.
	Fetch string
	rpc   *transport.Client
}

// New returns a client of the maplb at lb; secret may be nil.
func New(lb string, secret []byte) *Client {
	return NewTLS(lb, secret, nil)
}

// NewTLS returns a client that also speaks TLS (mutual, when tlsCfg holds
// a certificate) to the maplb at lb.
func NewTLS(lb string, secret []byte, tlsCfg *tls.Config) *Client {
	return &Client{LB: lb, rpc: transport.NewClient(transport.ClientConfig{Secret: secret, TLS: tlsCfg})}
}

// Close closes the client's connections.
func (c *Client) Close() error { return c.rpc.Close() }

func (c *Client) call(ctx context.Context, method string, req, resp any) error {
	return c.rpc.Call(ctx, c.LB, method, req, resp)
}

// callAgain is call for an idempotent request: sent again, a few times, when the connection
// was lost before the answer came (the answer may have been lost, not the request).
func (c *Client) callAgain(ctx context.Context, method string, req, resp any) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = c.call(ctx, method, req, resp); !retriable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(time.Duration(100<<try) * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

// retriable reports whether a call failed on the way (the connection), not by the answer of
// the peer or of the caller's context.
func retriable(err error) bool {
	var re *transport.RemoteError
	return err != nil && !errors.As(err, &re) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// newSubmitKey returns a random key that names one submission (SubmitBegin.Key).
func newSubmitKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Input is one document to upload: its name as the user typed it, and how
// to read it. Size is -1 when unknown (standard input).
type Input struct {
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
}

// FileInputs checks that every path exists and is a regular file (or "-"
// for r, once) before anything is uploaded, and returns them as inputs.
func FileInputs(paths []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	sawStdin := false
	for _, p := range paths {
		if p == "-" {
			if sawStdin {
				return nil, errors.New("standard input (-) given twice")
			}
			sawStdin = true
			out = append(out, Input{Name: "-", Size: -1, Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, errors.Unwrap(err))
		}
		if st.IsDir() {
			return nil, fmt.Errorf("input %s: is a directory", p)
		}
		path := p
		out = append(out, Input{Name: p, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }})
	}
	return out, nil
}

// Submit sends a job and streams its inputs in chunks. When it returns
// without error the job is accepted: it has an id and its input is stored.
func (c *Client) Submit(ctx context.Context, spec job.Spec, splitSize int64, inputs []Input) (*protocol.JobStatus, error) {
	spec.Docs = nil
	hint := int64(0)
	for _, in := range inputs {
		spec.Docs = append(spec.Docs, in.Name)
		if in.Size < 0 || hint < 0 {
			hint = -1
		} else {
			hint += in.Size
		}
	}
	var begin protocol.SubmitBeginReply
	req := &protocol.SubmitBegin{Spec: spec, SplitSize: splitSize, SizeHint: hint, Commit: len(inputs) == 0, Key: newSubmitKey()}
	if err := c.callAgain(ctx, protocol.MethodSubmitBegin, req, &begin); err != nil {
		return nil, err
	}
	if begin.Status != nil {
		return begin.Status, nil // no input: committed already
	}
	for doc, in := range inputs {
		if err := c.upload(ctx, begin.Job, doc, in); err != nil {
			return nil, err
		}
	}
	var st protocol.JobStatus
	if err := c.call(ctx, protocol.MethodSubmitCommit, &protocol.Commit{Job: begin.Job}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// uploadsInFlight is how many chunks of a document travel at once: the
// round trips overlap, and maplb puts the chunks back in order.
const uploadsInFlight = 8

// upload streams one document in chunks, a few in flight at a time.
func (c *Client) upload(ctx context.Context, id string, doc int, in Input) error {
	r, err := in.Open()
	if err != nil {
		return fmt.Errorf("input %s: %w", in.Name, err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []byte, uploadsInFlight)
	for range uploadsInFlight {
		free <- make([]byte, protocol.ChunkSize)
	}
	done := make(chan error, uploadsInFlight)
	inFlight := 0
	var first error
	answer := func(err error) {
		inFlight--
		if err != nil && first == nil {
			first = err
			cancel()
		}
	}
	var off int64
	for first == nil {
		var buf []byte
		select {
		case buf = <-free:
		case err := <-done:
			answer(err)
			continue
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			inFlight++
			go func(chunk []byte, off int64) {
				err := c.call(ctx, protocol.MethodSubmitUpload, &protocol.Upload{Job: id, Doc: doc, Offset: off, Data: chunk, Sum: integrity.Sum(chunk)}, nil)
				free <- chunk[:cap(chunk)]
				done <- err
			}(buf[:n], off)
			off += int64(n)
		} else {
			free <- buf
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil && first == nil {
			first = fmt.Errorf("input %s: %w", in.Name, rerr)
			cancel()
		}
	}
	for inFlight > 0 {
		answer(<-done)
	}
	return first
}

// Status returns a job's status.
func (c *Client) Status(ctx context.Context, id string) (*protocol.JobStatus, error) {
	var st protocol.JobStatus
	return &st, c.call(ctx, protocol.MethodJobStatus, &protocol.JobRef{Job: id}, &st)
}

// Wait blocks until the job ends, calling progress (when not nil) with each
// status seen on the way.
func (c *Client) Wait(ctx context.Context, id string, progress func(*protocol.JobStatus)) (*protocol.JobStatus, error) {
	for {
		var st protocol.JobStatus
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.call(wctx, protocol.MethodJobWait, &protocol.Wait{Job: id, Timeout: time.Second}, &st)
		cancel()
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(&st)
		}
		if protocol.Terminal(st.State) {
			return &st, nil
		}
	}
}

// Jobs lists the jobs maplb knows.
func (c *Client) Jobs(ctx context.Context) ([]protocol.JobStatus, error) {
	var l protocol.JobList
	return l.Jobs, c.call(ctx, protocol.MethodJobList, &protocol.Empty{}, &l)
}

// Nodes lists the cluster's members.
func (c *Client) Nodes(ctx context.Context) ([]protocol.NodeInfo, error) {
	var l protocol.NodeList
	return l.Nodes, c.call(ctx, protocol.MethodNodesList, &protocol.Empty{}, &l)
}

// Cancel stops a job.
func (c *Client) Cancel(ctx context.Context, id string) (*protocol.JobStatus, error) {
	var st protocol.JobStatus
	return &st, c.call(ctx, protocol.MethodJobCancel, &protocol.JobRef{Job: id}, &st)
}

// part streams one part of a finished job's result, as output records, each block checked
// (pkg/integrity) before it is used. The caller closes it.
func (c *Client) part(ctx context.Context, st *protocol.JobStatus, p int) io.ReadCloser {
	// The parts are read at once (merged): together they keep about 8
	// chunk requests in flight.
	inFlight := max(2*shuffle.ReadsInFlight/max(st.Partitions, 1), 1)
	what := fmt.Sprintf("part %d of job %s", p, st.ID)
	r := &partReader{ctx: ctx, rpc: c.rpc, job: st.ID, p: p, size: -1, inFlight: inFlight, checked: integrity.NewReader(nil, what)}
	for _, loc := range st.Parts {
		if loc.Partition != p {
			continue
		}
		if loc.Inline {
			// Small: it came with the status. Should it fail its check, the reducer's file is
			// read instead.
			r.inline = loc.Data
			r.sources = append(r.sources, "the job's status")
		}
		r.size = loc.Size
		if c.Fetch != FetchLB {
			for _, addr := range []string{loc.RPC, loc.CopyRPC} {
				if addr != "" && addr != c.LB {
					r.addrs = append(r.addrs, addr)
					r.sources = append(r.sources, addr)
				}
			}
		}
	}
	r.addrs = append(r.addrs, c.LB)
	r.sources = append(r.sources, c.LB)
	return r
}

// partReader reads a part from the first of its sources that serves it (the inline copy, then
// addrs); when one fails, a lost connection or a block that fails its check, it goes on with
// the next from the start of the block that failed. maplb, last, can reach a part the client
// cannot (a node's address behind NAT) and reads its copy when the reducer is gone.
type partReader struct {
	ctx      context.Context
	rpc      *transport.Client
	job      string
	p        int
	size     int64 // -1 when unknown
	inFlight int
	inline   []byte // the part, when it came inline and is not tried yet
	addrs    []string
	sources  []string // every source, for the message when all fail
	failed   []string // why each source tried failed
	cur      *shuffle.Reader
	checked  *integrity.Reader
	open     bool // checked reads from a source
}

func (r *partReader) Read(b []byte) (int, error) {
	for {
		if !r.open {
			base := r.checked.Offset()
			if r.inline != nil {
				r.checked.Resume(bytes.NewReader(r.inline[min(base, int64(len(r.inline))):]))
			} else {
				size := int64(-1)
				if r.size >= 0 {
					size = r.size - base
				}
				r.cur = shuffle.NewReaderN(r.ctx, r.rpc, r.addrs[0], protocol.MethodResultRead, size, r.inFlight, func(off int64) any {
					return &protocol.ResultRead{Job: r.job, Partition: r.p, Offset: base + off}
				})
				r.checked.Resume(r.cur)
			}
			r.open = true
		}
		n, err := r.checked.Read(b)
		if n > 0 || err == nil || errors.Is(err, io.EOF) || r.ctx.Err() != nil {
			return n, err
		}
		r.failed = append(r.failed, fmt.Sprintf("%s: %v", r.sources[len(r.failed)], err))
		r.open = false
		if r.inline != nil {
			r.inline = nil
			continue
		}
		r.cur.Close()
		r.cur = nil
		if len(r.addrs) == 1 {
			if len(r.failed) == 1 {
				return 0, err
			}
			return 0, fmt.Errorf("part %d of job %s: no copy could be read whole: %s", r.p, r.job, strings.Join(r.failed, "; "))
		}
		r.addrs = r.addrs[1:]
	}
}

func (r *partReader) Close() error {
	if r.cur != nil {
		r.cur.Close()
	}
	return nil
}

// WriteResult writes a finished job's whole result to w in the job's order,
// merging its parts as they stream in.
func (c *Client) WriteResult(ctx context.Context, st *protocol.JobStatus, w io.Writer) error {
	parts := make([]io.Reader, st.Partitions)
	for p := range parts {
		r := c.part(ctx, st, p)
		defer r.Close()
		parts[p] = r
	}
	return job.MergeOutput(parts, w)
}

// CheckOutputDir refuses a directory that exists and is not empty, unless
// force; it is called before submitting so no work is wasted.
func CheckOutputDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--output %s: %w", dir, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("--output %s: directory is not empty (use --force to replace its parts)", dir)
	}
	return nil
}

// WriteResultDir writes part-00000… into dir, each renamed into place when
// complete, then an empty _SUCCESS last.
func (c *Client) WriteResultDir(ctx context.Context, st *protocol.JobStatus, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--output %s: %w", dir, err)
	}
	// Replacing an earlier result (--force): its _SUCCESS goes first, so no
	// reader trusts a half-written directory, and its parts go too, so that
	// a result with fewer partitions leaves no stale part behind. Nothing
	// else in the directory is touched.
	old, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	for _, p := range append([]string{filepath.Join(dir, "_SUCCESS")}, old...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--output %s: %w", dir, err)
		}
	}
	for p := 0; p < st.Partitions; p++ {
		path := filepath.Join(dir, fmt.Sprintf("part-%05d", p))
		if _, err := shuffle.WriteUserFile(ctx, path, func(w io.Writer) error {
			r := c.part(ctx, st, p)
			defer r.Close()
			return job.WriteLines(r, w)
		}); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "_SUCCESS"))
	if err != nil {
		return err
	}
	return f.Close()
}
