// Command phases reads `dlbp status JOB --json` on standard input and prints where a finished
// job's wall time went, as maplb recorded it: upload and queueing (client start to running),
// the map phase (running to the last map attempt's end), the reduce tail after the last map,
// and the result's transfer to the client (finished to client end), plus the task-seconds the
// map and reduce attempts took. scripts/bench.sh uses it for the cluster's share of
// docs/bench.md.
//
//	phases -t0 START_UNIX_NS -t1 END_UNIX_NS < status.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/dlbp/dlbp/pkg/protocol"
)

func main() {
	t0 := flag.Int64("t0", 0, "client start, Unix nanoseconds")
	t1 := flag.Int64("t1", 0, "client end, Unix nanoseconds")
	flag.Parse()
	var st protocol.StatusJSON
	if err := json.NewDecoder(os.Stdin).Decode(&st); err != nil {
		fail(err)
	}
	start, end := time.Unix(0, *t0), time.Unix(0, *t1)
	running := parse(st.Started)
	finished := parse(st.Finished)
	mapsEnd, mapSecs, mapAttempts := lastEnd(st.Maps)
	_, reduceSecs, reduceAttempts := lastEnd(st.Reduces)
	fmt.Printf("mode=%s maps=%d map_attempts=%d reduces=%d reduce_attempts=%d ", st.Mode, st.MapsTotal, mapAttempts, len(st.Reduces), reduceAttempts)
	fmt.Printf("upload_queue_s=%.2f map_phase_s=%.2f reduce_tail_s=%.2f result_transfer_s=%.2f total_s=%.2f map_task_s=%.2f reduce_task_s=%.2f\n",
		secs(start, running), secs(running, mapsEnd), secs(mapsEnd, finished), secs(finished, end), secs(start, end), mapSecs, reduceSecs)
}

// lastEnd returns the end of the last attempt of the tasks, the seconds all their attempts
// took, and how many attempts there were.
func lastEnd(tasks []protocol.TaskJSON) (time.Time, float64, int) {
	var last time.Time
	total, n := 0.0, 0
	for _, t := range tasks {
		for _, a := range t.Attempts {
			s, e := parse(a.Start), parse(a.End)
			n++
			if e.After(last) {
				last = e
			}
			if !s.IsZero() && !e.IsZero() {
				total += e.Sub(s).Seconds()
			}
		}
	}
	return last, total, n
}

func parse(s string) time.Time {
	t, err := time.Parse(protocol.TimeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func secs(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a).Seconds()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "phases:", err)
	os.Exit(1)
}
