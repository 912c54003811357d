package client_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// scrape reads a daemon's /metrics into name{labels} → value.
func scrape(t *testing.T, b *daemon.Base) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHealthAndMetrics checks /healthz, /readyz and /metrics on every
// daemon after a job: the counters say what happened.
func TestHealthAndMetrics(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(o *daemon.Options) { o.HTTP = "127.0.0.1:0" })
	st, _ := run(t, c.Client("dlbp"), job.Spec{Job: "wordcount", Reducers: 2}, 256<<10, inputs(t))
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s: %s", st.State, st.Error)
	}
	bases := map[string]*daemon.Base{"maplb": c.MapLB.Base, "reducelb": c.ReduceLB.Base}
	for _, n := range c.Nodes {
		bases[n.Opts.Name] = n.Base
	}
	for name, b := range bases {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body := get(t, "http://"+b.HTTPAddr()+path); code != http.StatusOK {
				t.Errorf("%s %s: %d %s", name, path, code, body)
			}
		}
	}
	m := scrape(t, c.MapLB.Base)
	build := 0
	for k, v := range m {
		if strings.HasPrefix(k, "dlbp_build_info{") && strings.Contains(k, `goversion="go`) && v == 1 {
			build++
		}
	}
	if build != 1 {
		t.Errorf("maplb has %d dlbp_build_info gauges with a Go version, want 1", build)
	}
	want := map[string]float64{
		`dlbp_jobs{state="succeeded"}`: 1,
		`dlbp_nodes{state="alive"}`:    3,
		`dlbp_gossip_members`:          6,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("maplb %s = %v, want %v", k, m[k], v)
		}
	}
	maps := float64(len(st.Maps))
	if got := m[`dlbp_tasks_started_total{kind="map"}`]; got < maps {
		t.Errorf("maplb started %v map tasks, the job has %v", got, maps)
	}
	if got := m[`dlbp_tasks_finished_total{kind="map",outcome="done"}`]; got != maps {
		t.Errorf("maplb finished %v map tasks, want %v", got, maps)
	}
	if m[`dlbp_bytes_total{direction="in",what="input"}`] != float64(st.InputBytes) {
		t.Errorf("maplb took %v input bytes, the job has %d", m[`dlbp_bytes_total{direction="in",what="input"}`], st.InputBytes)
	}
	if m[`dlbp_job_duration_seconds_count{job="wordcount",state="succeeded"}`] != 1 {
		t.Errorf("job duration histogram: %v", m[`dlbp_job_duration_seconds_count{job="wordcount",state="succeeded"}`])
	}
	r := scrape(t, c.ReduceLB.Base)
	if r[`dlbp_reducer_picks_total{why="first"}`] < 2 {
		t.Errorf("reducelb picks %v, want at least 2", r[`dlbp_reducer_picks_total{why="first"}`])
	}
	var partialsOut, partialsIn, mapsRun float64
	for _, n := range c.Nodes {
		s := scrape(t, n.Base)
		partialsOut += s[`dlbp_bytes_total{direction="out",what="partial"}`]
		partialsIn += s[`dlbp_bytes_total{direction="in",what="partial"}`]
		mapsRun += s[`dlbp_tasks_finished_total{kind="map",outcome="done"}`]
	}
	if partialsOut == 0 || partialsOut != partialsIn {
		t.Errorf("partial bytes out %v, in %v: want equal and non-zero (reducers fetch from other nodes)", partialsOut, partialsIn)
	}
	if mapsRun < maps {
		t.Errorf("nodes ran %v map tasks, want at least %v", mapsRun, maps)
	}
}
