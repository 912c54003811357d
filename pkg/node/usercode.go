package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dlbp/dlbp/pkg/blob"
	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/usercode"
)

// startUserCode prepares what runs user jobs here: a cache of the blobs (modules and --files)
// tasks need, fetched from maplb the first time and kept, and the runtime whose compiled modules
// are cached on disk under the data directory.
func (n *Node) startUserCode() error {
	blobs, err := blob.Open(filepath.Join(n.Opts.DataDir, "blobs"), protocol.MaxBlobSize)
	if err != nil {
		return err
	}
	n.blobs = blobs
	// Working directories of native programs that a crash of an earlier run left behind: no
	// program of this run uses them.
	if err := os.RemoveAll(filepath.Join(n.Opts.DataDir, "tasks")); err != nil {
		return err
	}
	n.user, err = usercode.New(usercode.Config{
		Dir: n.Opts.DataDir, MemoryLimit: n.Opts.TaskMemoryBytes, MaxOutput: n.Opts.MaxTaskOutputBytes, AllowExec: n.Opts.AllowExec, CacheDir: n.Opts.ModuleCache,
		Blob: n.fetchBlob, OnCompile: n.Metrics.ModuleCompiles.Inc, Log: n.Log,
	})
	return err
}

// fetchBlob returns the local path of a blob, fetching it from a maplb that holds it. Its bytes
// are checked against the digest before they are kept.
func (n *Node) fetchBlob(ctx context.Context, digest string) (string, error) {
	lbs := n.Members(cluster.RoleMapLB)
	if len(lbs) == 0 && !n.blobs.Has(digest) {
		return "", errors.New("no maplb in the cluster to fetch user code from")
	}
	// Two maplbs (one per mode) may share these nodes: the one whose job
	// needs the blob has it. Ask each in turn.
	var errs []error
	for _, lb := range lbs {
		path, err := n.blobs.Fetch(ctx, digest, func(ctx context.Context) (io.ReadCloser, error) {
			return shuffle.NewReader(ctx, n.Client, lb.Meta.RPC, protocol.MethodBlobRead, -1, func(off int64) any {
				return &protocol.BlobRead{Digest: digest, Offset: off}
			}), nil
		})
		if err == nil || ctx.Err() != nil {
			return path, err
		}
		errs = append(errs, fmt.Errorf("from %s: %w", lb.Name, err))
	}
	if n.blobs.Has(digest) {
		return n.blobs.Path(digest), nil
	}
	return "", errors.Join(errs...)
}
