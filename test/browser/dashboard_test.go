// Package browser drives maplb's dashboard in headless Chromium.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// chromium finds Debian's chromium (or another Chrome) or skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on this machine (apt-get install chromium): the dashboard's browser test needs one")
	return ""
}

// TestDashboard opens the dashboard while a job runs: it must show the
// job's map progress advancing, then a node killed mid-job as dead. It
// saves a screenshot (to $DLBP_SCREENSHOT when set, else a temp dir).
func TestDashboard(t *testing.T) {
	browser := chromium(t)
	c := testcluster.StartWith(t, 3, func(o *daemon.Options) {
		if o.Role == "maplb" {
			o.HTTP = "127.0.0.1:0"
		}
	})
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 4; i++ {
		p := filepath.Join(dir, fmt.Sprintf("text%d.txt", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := corpus.Generate(f, 6<<20, int64(i)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := c.Client("dlbp")
	in, _ := client.FileInputs(paths, nil)
	st, err := cl.Submit(ctx, job.Spec{Job: "indexer", Reducers: 3}, 64<<10, in)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	url := "http://" + c.MapLB.HTTPAddr() + "/"
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#progress`))); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}

	// The job's map progress, as the page shows it, advances.
	mapsDone := func() int {
		a, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`tr.job[data-job="`+st.ID+`"]`), "data-maps-done"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(a.Value)
		return n
	}
	first := mapsDone()
	testcluster.WaitFor(t, time.Minute, "the page to show map progress advancing", func() bool { return mapsDone() > first })

	// Kill a node mid-job: the page marks it dead.
	victim := c.Nodes[2]
	victim.Close()
	state := func() string {
		a, _ := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`tr[data-node="`+victim.Opts.Name+`"]`), "data-state"))
		return a.Value
	}
	testcluster.WaitFor(t, 30*time.Second, "the page to mark "+victim.Opts.Name+" dead", func() bool { return state() == "dead" })

	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot()) // the viewport, as PNG
	if err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("DLBP_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "dashboard.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	final, err := cl.Wait(ctx, st.ID, nil)
	if err != nil || final.State != protocol.StateSucceeded {
		t.Fatalf("job after the node loss: %v %+v", err, final)
	}
}

// TestDashboardSaysWhyAJobWaits: a job that cannot progress (the cluster has no node) shows
// why on the dashboard, in the jobs table, from the same source as dlbp status; once a node
// joins, the job finishes and the reason goes away.
func TestDashboardSaysWhyAJobWaits(t *testing.T) {
	browser := chromium(t)
	c := testcluster.StartWith(t, 0, func(o *daemon.Options) {
		if o.Role == "maplb" {
			o.HTTP = "127.0.0.1:0"
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := c.Client("dlbp")
	st, err := cl.Submit(ctx, job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..1000"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	url := "http://" + c.MapLB.HTTPAddr() + "/"
	row := `tr.job[data-job="` + st.ID + `"]`
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	text := func() string {
		s, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(row)))
		return s
	}
	testcluster.WaitFor(t, 30*time.Second, "the jobs table to say why the job waits", func() bool {
		return strings.Contains(text(), "waiting: no live node in the cluster")
	})
	c.AddNode("node1")
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("once a node joined: %v %+v", err, st)
	}
	testcluster.WaitFor(t, 30*time.Second, "the reason to go away once the job ran", func() bool {
		return !strings.Contains(text(), "waiting") && strings.Contains(text(), "succeeded")
	})
}
