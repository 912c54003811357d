package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// plainLine is a progress line for standard error that is not a terminal.
var plainLine = regexp.MustCompile(`dlbp: job \S+ \w+: maps \d+/\d+, reduces \d+/\d+\n`)

// checkProgressTerminal runs `dlbp submit` with its standard error on a pseudo-terminal, as a
// user at a shell has it: the client must draw a progress bar there (redrawn in place with
// carriage returns, with maps and reduces done of total, the input size, the count and the
// elapsed time), while standard output still carries the exact result. Standard error that is
// not a terminal gets plain lines instead, and --quiet gets nothing; both are checked too.
func (c *testCluster) checkProgressTerminal(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Skipf("no pseudo-terminal here: %v", err)
			}
			defer ptmx.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append([]string{"submit", "--lb", c.lb[mode], "--job", "wordcount", "--reducers", "2", "--split-size", "65536"}, texts...)
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dlbp"), args...)
			cmd.Env = append(os.Environ(), "DLBP_LB=", "DLBP_SECRET_FILE=")
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, tty
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			tty.Close() // the child holds its own copy
			var screen bytes.Buffer
			copied := make(chan struct{})
			go func() { io.Copy(&screen, ptmx); close(copied) }() // ends with EIO once the child exits
			err = cmd.Wait()
			<-copied
			if err != nil {
				t.Fatalf("dlbp submit: %v; terminal:\n%q", err, screen.String())
			}
			sameOutput(t, "wordcount under a terminal", stdout.Bytes(), wantWords)
			out := screen.String()
			if plainLine.MatchString(out) {
				t.Errorf("plain progress lines on a terminal:\n%q", out)
			}
			if strings.Count(out, "\r") < 2 {
				t.Errorf("the bar is not redrawn in place (%d carriage returns):\n%q", strings.Count(out, "\r"), out)
			}
			// The last drawing: every map and reduce done, the count, the elapsed time.
			final := regexp.MustCompile(`wordcount succeeded [0-9.]+ [KMG]?i?B · maps (\d+)/(\d+) · reduces 2/2 +100% \|[^|]+\| \((\d+)/(\d+)[^)]*\) \[[0-9]+s`)
			m := final.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no finished progress bar on the terminal:\n%q", out)
			}
			if m[1] != m[2] || m[3] != m[4] {
				t.Errorf("finished bar not full: %q", m[0])
			}
		})
	}
	// Not a terminal: plain lines; --quiet: nothing.
	args := append([]string{"submit", "--lb", c.lb["dlbp"], "--job", "wordcount"}, texts...)
	r := mustDLBP(t, args...)
	if !plainLine.Match(r.Stderr) || strings.Contains(string(r.Stderr), "\r") {
		t.Errorf("stderr not a terminal: want plain lines, got:\n%q", r.Stderr)
	}
	r = mustDLBP(t, append(args[:1:1], append([]string{"--quiet"}, args[1:]...)...)...)
	if len(r.Stderr) != 0 {
		t.Errorf("--quiet printed on stderr:\n%q", r.Stderr)
	}
}
