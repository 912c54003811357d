package sched

import (
	"fmt"
	"time"
)

// Waiting says why a job's pending map tasks cannot start now, or "" when they can (or when
// nothing is pending): busy nodes are not a reason, for their slots come free by themselves;
// what is reported is what needs someone to act. It is what maplb shows a user beside the
// job's progress ("waiting: …").
func (s *MapScheduler) Waiting(id string, now time.Time) string {
	j, ok := s.jobs[id]
	if !ok || j.stopped || len(j.pending) == 0 {
		return ""
	}
	if len(s.nodes) == 0 {
		return "no live node in the cluster"
	}
	var usable, exec, paused int
	var until time.Time
	for _, n := range s.nodes {
		if n.info.Draining || n.info.Full {
			continue
		}
		usable++
		if !n.info.Exec && j.rules.NeedsExec {
			continue
		}
		exec++
		if now.Before(n.blockedUntil) {
			paused++
			if until.IsZero() || n.blockedUntil.Before(until) {
				until = n.blockedUntil
			}
		}
	}
	switch {
	case usable == 0:
		return "every node is draining or low on disk"
	case exec == 0:
		return "no node allows exec (the job runs native programs: start nodes with --allow-exec)"
	case paused == exec:
		return fmt.Sprintf("every node is paused after failures (the first gets work again in %s)", until.Sub(now).Round(time.Second))
	}
	return ""
}
