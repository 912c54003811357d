package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunSaverRetries: a save that fails is tried again without a new kick, until it succeeds;
// the end of ctx saves once more.
func TestRunSaverRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{}, 1)
	var calls atomic.Int32
	succeeded := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunSaver(ctx, kick, func() bool {
			n := calls.Add(1)
			if n == 3 {
				close(succeeded)
			}
			return n >= 3 // the disk takes the records at the third try
		})
	}()
	kick <- struct{}{}
	select {
	case <-succeeded:
	case <-time.After(10 * SaveRetry):
		t.Fatalf("after %d saves, none succeeded: a failed save was not tried again", calls.Load())
	}
	cancel()
	<-done
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d saves, want 3 and one more at the end", n)
	}
}
