// Package blob keeps content-addressed files: the WebAssembly modules and --files of user jobs,
// named by the hex SHA-256 of their bytes. maplb keeps what clients upload, so that a module is
// sent once, not with every job; nodes fetch a blob from maplb the first time a task needs it and
// keep it. A blob is stored only once its bytes match its digest, so a stored blob is what its
// name says.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/store"
)

// ErrNotFound is returned for a blob the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// Store is a directory of blobs: DIR/<digest>, and DIR/incoming for uploads in progress.
type Store struct {
	dir string
	max int64

	mu       sync.Mutex
	fetching map[string]*fetch // digests being fetched, so that concurrent users fetch once
}

type fetch struct {
	done chan struct{}
	err  error
}

// Open returns the store in dir, creating it. Blobs larger than max bytes are refused.
func Open(dir string, max int64) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "incoming"), 0o755); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &Store{dir: dir, max: max, fetching: map[string]*fetch{}}, nil
}

// Path is where the blob with digest is (or would be) kept.
func (s *Store) Path(digest string) string { return filepath.Join(s.dir, digest) }

// Has reports whether the blob is here.
func (s *Store) Has(digest string) bool {
	if !job.ValidDigest(digest) {
		return false
	}
	_, err := os.Stat(s.Path(digest))
	return err == nil
}

// Missing returns the digests of those given that are not here, in their order.
func (s *Store) Missing(digests []string) []string {
	var out []string
	for _, d := range digests {
		if !s.Has(d) {
			out = append(out, d)
		}
	}
	return out
}

// Put appends data at off to the upload of a blob of size bytes; with last it checks the upload's
// size and digest and keeps it. Uploads append in order: an offset other than what the upload
// holds is refused, and an offset of 0 starts it again.
func (s *Store) Put(digest string, off int64, data []byte, last bool, size int64) error {
	if !job.ValidDigest(digest) {
		return fmt.Errorf("%q is not a hex SHA-256", digest)
	}
	if size < 0 || size > s.max {
		return fmt.Errorf("a blob of %d bytes: at most %d", size, s.max)
	}
	if off < 0 || off+int64(len(data)) > size {
		return fmt.Errorf("%d bytes at offset %d of a blob of %d", len(data), off, size)
	}
	if s.Has(digest) {
		return nil // another upload of the same bytes won
	}
	tmp := filepath.Join(s.dir, "incoming", digest)
	flags := os.O_WRONLY | os.O_CREATE
	if off == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(tmp, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have != off {
		return fmt.Errorf("upload of blob %.12s out of order: %d bytes at offset %d, it holds %d", digest, len(data), off, have)
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if !last {
		return f.Close()
	}
	if off+int64(len(data)) != size {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("blob %.12s ended at %d bytes, announced %d", digest, off+int64(len(data)), size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.keep(tmp, digest)
}

// keep checks that the file at tmp has digest and renames it into the store.
func (s *Store) keep(tmp, digest string) error {
	got, err := FileDigest(tmp)
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if got != digest {
		os.Remove(tmp)
		return fmt.Errorf("blob bytes have SHA-256 %s, not %s: damaged in transit", got, digest)
	}
	if err := os.Rename(tmp, s.Path(digest)); err != nil {
		os.Remove(tmp)
		return err
	}
	return store.SyncDir(s.dir)
}

// Fetch makes the blob local, reading it with open (from offset 0) when it is not here, and
// returns its path. Concurrent calls for one digest read it once.
func (s *Store) Fetch(ctx context.Context, digest string, open func(ctx context.Context) (io.ReadCloser, error)) (string, error) {
	if !job.ValidDigest(digest) {
		return "", fmt.Errorf("%q is not a hex SHA-256", digest)
	}
	for {
		if s.Has(digest) {
			return s.Path(digest), nil
		}
		s.mu.Lock()
		f, busy := s.fetching[digest]
		if !busy {
			f = &fetch{done: make(chan struct{})}
			s.fetching[digest] = f
		}
		s.mu.Unlock()
		if busy {
			select {
			case <-f.done:
				if f.err != nil {
					return "", f.err
				}
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		f.err = s.fetchOnce(ctx, digest, open)
		s.mu.Lock()
		delete(s.fetching, digest)
		s.mu.Unlock()
		close(f.done)
		if f.err != nil {
			return "", f.err
		}
	}
}

func (s *Store) fetchOnce(ctx context.Context, digest string, open func(ctx context.Context) (io.ReadCloser, error)) error {
	r, err := open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.CreateTemp(filepath.Join(s.dir, "incoming"), digest+".fetch-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	n, err := io.Copy(f, io.LimitReader(r, s.max+1))
	if err == nil && n > s.max {
		err = fmt.Errorf("blob %.12s is larger than %d bytes", digest, s.max)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fetching blob %.12s: %w", digest, err)
	}
	return s.keep(tmp, digest)
}

// FileDigest returns the hex SHA-256 of the file at path.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
