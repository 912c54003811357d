// Package shuffle moves intermediate and final data between daemons: where
// partials and parts live in a data directory, how a file is served and read
// in chunks, and the gatherer that collects a partition's partials and
// reduces them. Node reducers and the single-mode master share it.
package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/store"
	"github.com/dlbp/dlbp/pkg/transport"
)

// Layout places a daemon's files under its data directory.
type Layout struct {
	Dir string
}

// jobDir is a job's directory of one kind. An id that is not a job id
// ("", "..", a path) maps to a name no job has, never to a parent
// directory: handlers check ids, this is the second line of defence.
func (l Layout) jobDir(kind, job string) string {
	if !protocol.ValidJobID(job) {
		job = "invalid-job-id"
	}
	return filepath.Join(l.Dir, kind, job)
}

// PartialPath is where a map attempt's output for partition p is kept.
// A job's partials share one directory (a directory is a system call to
// make and one to remove: small jobs notice).
func (l Layout) PartialPath(job string, task, attempt, p int) string {
	return filepath.Join(l.jobDir("maps", job), fmt.Sprintf("t%05d.a%d.p%05d", task, attempt, p))
}

// GatherPath is where a reducer keeps the partial of map task for partition
// p: one directory per partition, so that it can be dropped alone.
func (l Layout) GatherPath(job string, p, task int) string {
	return filepath.Join(l.jobDir("gather", job)+fmt.Sprintf(".p%05d", p), fmt.Sprintf("t%05d", task))
}

// ResultPath is where committed part p of a job's output is kept.
func (l Layout) ResultPath(job string, p int) string {
	return filepath.Join(l.jobDir("results", job), fmt.Sprintf("part-%05d", p))
}

// ForgetIntermediate removes a job's partials and gathered copies.
func (l Layout) ForgetIntermediate(job string) error {
	errs := []error{os.RemoveAll(l.jobDir("maps", job))}
	gathered, _ := filepath.Glob(l.jobDir("gather", job) + ".p*") // a job id has no pattern characters
	for _, dir := range gathered {
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// ForgetResults removes a job's committed parts.
func (l Layout) ForgetResults(job string) error {
	return os.RemoveAll(l.jobDir("results", job))
}

// SweepEarlierRun removes what an earlier run of the daemon left in flight: map outputs,
// gathered partials, spill files and parts never committed (a crash mid-write). This run uses
// none of it: a restarted node is a new run whose map outputs count as lost, and a gathering
// starts again from the partials. Committed parts stay: they are the jobs' answers.
func (l Layout) SweepEarlierRun() error {
	errs := []error{
		os.RemoveAll(filepath.Join(l.Dir, "maps")),
		os.RemoveAll(filepath.Join(l.Dir, "gather")),
		os.RemoveAll(filepath.Join(l.Dir, "spill")),
	}
	half, _ := filepath.Glob(filepath.Join(l.Dir, "results", "*", ".part-*.tmp*"))
	for _, p := range half {
		errs = append(errs, os.Remove(p))
	}
	return errors.Join(errs...)
}

// ReadChunk returns up to protocol.ChunkSize bytes of path from off; a
// missing file is a not_found error.
func ReadChunk(path string, off int64) (*protocol.Chunk, error) {
	f, size, err := OpenData(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readChunkAt(f, off, max(size-off, 0))
}

// OpenData opens a file a daemon serves and returns it with its size; a missing file is a
// not_found error.
func OpenData(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, transport.Errorf(transport.CodeNotFound, "%s: no such data", filepath.Base(path))
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readChunkAt reads up to ChunkSize bytes (and at most limit when ≥ 0) at off.
func readChunkAt(r io.ReaderAt, off, limit int64) (*protocol.Chunk, error) {
	if off < 0 {
		return nil, transport.Errorf(transport.CodeBadRequest, "negative offset %d", off)
	}
	n := int64(protocol.ChunkSize)
	if limit >= 0 && limit < n {
		n = limit
	}
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	eof := errors.Is(err, io.EOF) || int64(got) == limit
	return &protocol.Chunk{Data: buf[:got], EOF: eof}, nil
}

// ReadRange serves a chunk of the byte range [start, start+length) of path,
// from offset off within the range.
func ReadRange(path string, start, length, off int64) (*protocol.Chunk, error) {
	if off > length {
		return nil, transport.Errorf(transport.CodeBadRequest, "offset %d past range of %d bytes", off, length)
	}
	f, _, err := OpenData(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := readChunkAt(f, start+off, length-off)
	if err != nil {
		return nil, err
	}
	if int64(len(c.Data)) < length-off && c.EOF {
		return nil, fmt.Errorf("%s: short file: wanted %d bytes at %d", filepath.Base(path), length-off, start+off)
	}
	return c, nil
}

// Reader reads a remote file chunk by chunk: request(off) builds the
// request for the chunk at off, sent as method to addr. It keeps several
// requests in flight — the chunks travel while the reader works on earlier
// ones — so a stream is not one round trip per chunk slower than the
// network. Close stops the fetching; reading to the end or to an error also
// does.
type Reader struct {
	chunks chan fetched
	done   chan struct{}
	once   sync.Once
	buf    []byte
	err    error
}

type fetched struct {
	data []byte
	err  error // io.EOF after the last chunk
}

const (
	// readAhead is how many fetched chunks wait to be read.
	readAhead = 2
	// ReadsInFlight is how many chunk requests a Reader has out at once,
	// unless told otherwise (NewReaderN): a Reader holds up to
	// ReadsInFlight+readAhead chunks.
	ReadsInFlight = 4
)

// NewReader returns a Reader over a chunked remote file of size bytes, or
// of unknown size when size < 0 (its end is the chunk that says EOF).
func NewReader(ctx context.Context, c *transport.Client, addr, method string, size int64, request func(off int64) any) *Reader {
	return NewReaderN(ctx, c, addr, method, size, ReadsInFlight, request)
}

// NewReaderN is NewReader with inFlight chunk requests out at once (at
// least 1): a process reading many files at once keeps its memory bounded.
func NewReaderN(ctx context.Context, c *transport.Client, addr, method string, size int64, inFlight int, request func(off int64) any) *Reader {
	r := &Reader{chunks: make(chan fetched, readAhead), done: make(chan struct{})}
	go r.fetch(ctx, c, addr, method, size, max(inFlight, 1), request)
	return r
}

// chunkCall is one chunk request in flight.
type chunkCall struct {
	off   int64
	done  chan struct{}
	chunk protocol.Chunk
	err   error
}

// fetch asks for the chunks at off, off+ChunkSize, … ahead of the reader,
// and hands them over in order. Every chunk but the last is ChunkSize bytes
// long; a shorter one that is not the end (a server that answers in smaller
// pieces) sends the requests after it again from the right offset.
func (r *Reader) fetch(ctx context.Context, c *transport.Client, addr, method string, size int64, inFlight int, request func(off int64) any) {
	defer close(r.chunks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := func(off int64) *chunkCall {
		k := &chunkCall{off: off, done: make(chan struct{})}
		go func() {
			defer close(k.done)
			k.err = c.Call(ctx, addr, method, request(off), &k.chunk)
		}()
		return k
	}
	var queue []*chunkCall
	var next int64 // the offset of the next request to send
	for {
		for len(queue) == 0 || (len(queue) < inFlight && (size < 0 || next < size)) {
			queue = append(queue, start(next))
			next += protocol.ChunkSize
		}
		k := queue[0]
		queue = queue[1:]
		select {
		case <-k.done:
		case <-r.done:
			return
		}
		f := fetched{}
		switch {
		case k.err != nil:
			f.err = k.err
		case len(k.chunk.Data) == 0 && !k.chunk.EOF:
			f.err = fmt.Errorf("%s %s: empty chunk at offset %d", addr, method, k.off)
		case k.chunk.Summed && integrity.Sum(k.chunk.Data) != k.chunk.Sum:
			f.err = &integrity.CorruptError{What: fmt.Sprintf("the chunk %s sent by %s", method, addr), Offset: k.off, Reason: "checksum mismatch on the way"}
		default:
			f.data = k.chunk.Data
		}
		select {
		case r.chunks <- f:
		case <-r.done:
			return
		}
		if f.err != nil {
			return
		}
		if k.chunk.EOF {
			select {
			case r.chunks <- fetched{err: io.EOF}:
			case <-r.done:
			}
			return
		}
		if len(k.chunk.Data) != protocol.ChunkSize {
			queue, next = nil, k.off+int64(len(k.chunk.Data)) // the requests after it asked for the wrong offsets
		}
	}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		f, ok := <-r.chunks
		if !ok {
			r.err = io.ErrUnexpectedEOF
			continue
		}
		r.buf, r.err = f.data, f.err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close stops fetching ahead.
func (r *Reader) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// WriteFileAtomic writes a file by streaming into a temporary name in the
// same directory and renaming: a reader never sees half of it. A durable
// file is synced before the rename, so that it survives the machine's
// crash too; intermediate data need not be (a node that restarts is a new
// run whose intermediate data counts as lost anyway). Once ctx has ended
// nothing is committed: the work it was for is over (a forgotten job), and
// a file nobody will ask for must not be left behind.
func WriteFileAtomic(ctx context.Context, path string, durable bool, fill func(w io.Writer) error) (int64, error) {
	syncAbove := int64(math.MaxInt64)
	if durable {
		syncAbove = -1
	}
	return writeFileAtomic(ctx, path, syncAbove, 0o600, fill)
}

// WriteUserFile is WriteFileAtomic (durable) for a file the user asked for (dlbp --output):
// created with mode 0666 less the process's umask, as any Unix tool creates its output.
func WriteUserFile(ctx context.Context, path string, fill func(w io.Writer) error) (int64, error) {
	return writeFileAtomic(ctx, path, -1, 0o666, fill)
}

// writeFileAtomic is WriteFileAtomic that syncs the file when it is larger
// than syncAbove bytes, and creates it with perm (less the umask).
func writeFileAtomic(ctx context.Context, path string, syncAbove int64, perm os.FileMode, fill func(w io.Writer) error) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := createTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp", perm)
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	if err := fill(f); err != nil {
		return fail(err)
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	synced := st.Size() > syncAbove
	if synced {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := context.Cause(ctx); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if synced {
		// The rename is durable once the directory is.
		if err := store.SyncDir(filepath.Dir(path)); err != nil {
			return 0, err
		}
	}
	return st.Size(), nil
}

// createTemp creates a new file in dir named prefix and a random suffix, with perm less the
// umask (os.CreateTemp always uses 0600).
func createTemp(dir, prefix string, perm os.FileMode) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		return f, err
	}
}

// CountingReader tells Count how many bytes each Read returned.
type CountingReader struct {
	R     io.Reader
	Count func(float64)
}

// Read implements io.Reader.
func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.Count(float64(n))
	return n, err
}
