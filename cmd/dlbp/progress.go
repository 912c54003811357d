package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/dlbp/dlbp/pkg/protocol"
)

// progress shows how a job advances on standard error: a bar when it is a
// terminal (maps and reduces done of total, input bytes, elapsed time and
// an estimate), plain lines otherwise, nothing when quiet.
type progress struct {
	w     io.Writer
	quiet bool
	tty   bool
	bar   *progressbar.ProgressBar
	last  string
}

func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, quiet: quiet, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(st *protocol.JobStatus) {
	if p.quiet {
		return
	}
	line := fmt.Sprintf("job %s %s: maps %d/%d, reduces %d/%d", st.ID, st.State, st.MapsDone, st.MapsTotal, st.ReducesDone, st.Partitions)
	if st.Waiting != "" {
		line += "; waiting: " + st.Waiting
	}
	if !p.tty {
		if line != p.last {
			fmt.Fprintln(p.w, "dlbp: "+line)
			p.last = line
		}
		return
	}
	total := st.MapsTotal + st.Partitions
	if p.bar == nil && total > 0 {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
		)
	}
	if p.bar == nil {
		return
	}
	p.bar.ChangeMax(total)
	desc := fmt.Sprintf("%s %s %s · maps %d/%d · reduces %d/%d", st.Job, st.State, humanBytes(st.InputBytes), st.MapsDone, st.MapsTotal, st.ReducesDone, st.Partitions)
	if st.Waiting != "" {
		desc += " · waiting: " + st.Waiting
	}
	p.bar.Describe(desc)
	p.bar.Set(st.MapsDone + st.ReducesDone)
}

// done ends the bar's line.
func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
