package e2e

import (
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/proccluster"
)

// result is what one dlbp command did; clientIO is what it reads and where it writes.
type (
	result   = proccluster.Result
	clientIO = proccluster.IO
)

// newCluster returns an empty cluster of the binaries TestMain built, stopped when t ends.
func newCluster(t *testing.T) *proccluster.Cluster {
	t.Helper()
	return proccluster.New(t, binDir)
}

// dlbp runs the client with args and returns its output and exit status. A client that does
// not exit within proccluster.ClientTimeout fails the test: that is a hang.
func dlbp(t *testing.T, args ...string) result {
	t.Helper()
	return proccluster.Run(t, binDir, clientIO{}, args...)
}

// dlbpIO runs the client with args, its standard input and output as cio says.
func dlbpIO(t *testing.T, cio clientIO, args ...string) result {
	t.Helper()
	return proccluster.Run(t, binDir, cio, args...)
}

// mustDLBP runs the client and fails the test unless it exits 0.
func mustDLBP(t *testing.T, args ...string) result {
	t.Helper()
	return proccluster.MustRun(t, binDir, clientIO{}, args...)
}

// mustDLBPIO is dlbpIO that fails the test unless the client exits 0.
func mustDLBPIO(t *testing.T, cio clientIO, args ...string) result {
	t.Helper()
	return proccluster.MustRun(t, binDir, cio, args...)
}

// waitUntil polls cond every 50 ms until it holds or timeout passes (see proccluster.WaitUntil).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return proccluster.WaitUntil(t, timeout, what, cond)
}

// sameOutput reports whether got equals want byte for byte; if not, the test fails with the
// first differing line.
func sameOutput(t *testing.T, what string, got, want []byte) bool {
	t.Helper()
	return proccluster.SameOutput(t, what, got, want)
}

// lines splits s after each '\n', without the empty string that follows a final '\n'.
func lines(s string) []string { return proccluster.Lines(s) }
