package node

import (
	"fmt"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/transport"
)

// A node whose disk has less free space than its --min-free-disk says so in its gossip
// metadata (DiskLow): the load balancers place no new map task and pick no new reducer there,
// and it refuses map tasks itself, until space returns. What it was running when the disk
// filled fails (ENOSPC), like any failure of the node, and runs elsewhere.

// diskCheckInterval is how often the node looks at its free space.
const diskCheckInterval = time.Second

// diskSpace returns the free bytes (for an unprivileged writer) and the size of the
// filesystem of dir.
func diskSpace(dir string) (free, size int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// minFreeDisk is the free space the node keeps: --min-free-disk, or when automatic
// DefaultMinFreeDisk or 5% of the disk, whichever is less.
func (n *Node) minFreeDisk(size int64) int64 {
	if n.Opts.MinFreeDiskBytes >= 0 {
		return n.Opts.MinFreeDiskBytes
	}
	return min(daemon.DefaultMinFreeDisk, size/20)
}

// checkDisk looks at the free space and publishes a change of DiskLow.
func (n *Node) checkDisk() {
	free, size, err := diskSpace(n.Opts.DataDir)
	if err != nil {
		n.Log.Warn("reading the data directory's free space", zap.Error(err))
		return
	}
	limit := n.minFreeDisk(size)
	low := limit > 0 && free < limit
	n.mu.Lock()
	changed := low != n.diskLow
	n.diskLow, n.diskFree, n.diskLimit = low, free, limit
	n.mu.Unlock()
	if !changed {
		return
	}
	if low {
		n.Log.Warn("disk space low: taking no new task until it returns", zap.Int64("free", free), zap.Int64("min_free_disk", limit))
	} else {
		n.Log.Info("disk space back: taking tasks again", zap.Int64("free", free), zap.Int64("min_free_disk", limit))
	}
	if n.Cluster != nil {
		if err := n.Cluster.UpdateMeta(func(m *cluster.Meta) { m.DiskLow = low }); err != nil {
			n.Log.Warn("publishing the disk's state", zap.Error(err))
		}
	}
}

// diskRefusal is the error for new work while the disk is low, or nil. n.mu is held.
func (n *Node) diskRefusal() error {
	if !n.diskLow {
		return nil
	}
	return transport.Errorf(transport.CodeBusy, "node %s has %s free on its disk, below its --min-free-disk of %s: it takes no new task until space returns",
		n.Opts.Name, sizeString(n.diskFree), sizeString(n.diskLimit))
}

// sizeString prints bytes in MiB, or KiB below one.
func sizeString(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d MiB", b>>20)
}
