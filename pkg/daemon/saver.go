package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// SaveRetry is how soon RunSaver tries a failed save again (a full or failing disk).
const SaveRetry = time.Second

// RunSaver calls save at every kick, and again SaveRetry after one that failed (save reports
// whether it wrote everything; what it could not write it keeps for the next call), until ctx
// ends, then once more.
func RunSaver(ctx context.Context, kick <-chan struct{}, save func() bool) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-kick:
		case <-retry:
		}
		retry = nil
		if !save() {
			retry = time.After(SaveRetry)
		}
	}
}

// SaveState is what a daemon knows of its last write of its durable state; the daemon's own
// lock guards it.
type SaveState struct {
	// Err is why the last write failed; nil once one succeeded. /readyz is red while it is set.
	Err    error
	failed time.Time // the first failure of this run of failures
	logged time.Time // when the failures were last logged
}

// saveLogEvery is how often failing writes are logged again while they go on failing.
const saveLogEvery = time.Minute

// Wrote records the outcome of a write of n records and reports whether it succeeded. The first
// failure is logged as an error, then again each minute while writes keep failing (a full disk
// fails every retry and every change), and the first success after failures is logged too.
func (s *SaveState) Wrote(log *zap.Logger, n int, err error) bool {
	now := time.Now()
	if err == nil {
		if s.Err != nil {
			log.Info("saving state works again", zap.Duration("failed_for", now.Sub(s.failed)))
		}
		*s = SaveState{}
		return true
	}
	if s.Err == nil {
		s.failed = now
	}
	if s.Err == nil || now.Sub(s.logged) >= saveLogEvery {
		log.Error("saving state failed: what could not be written is kept and tried again", zap.Int("records", n),
			zap.Duration("failing_for", now.Sub(s.failed)), zap.Error(err))
		s.logged = now
	}
	s.Err = err
	return false
}
