package client_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// TestOutputDirFollowsUmask: --output DIR's part files and _SUCCESS are created with the
// user's umask, like any Unix tool's output (before, parts were -rw------- and _SUCCESS
// -rw-r--r-- whatever the umask).
func TestOutputDirFollowsUmask(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client("dlbp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, _ := submitWordcount(ctx, t, cl, 256<<10, 51, 0, 2)
	st, err := cl.Wait(ctx, id, nil)
	if err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("%v %+v", err, st)
	}
	for _, mask := range []int{0o022, 0o077} {
		old := syscall.Umask(mask)
		dir := filepath.Join(t.TempDir(), "out")
		err := cl.WriteResultDir(ctx, st, dir)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o666 &^ mask)
		for _, name := range []string{"part-00000", "part-00001", "_SUCCESS"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("umask %03o: %s is %v, want %v", mask, name, fi.Mode().Perm(), want)
			}
		}
	}
}
