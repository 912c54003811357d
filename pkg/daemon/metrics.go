package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dlbp/dlbp/pkg/version"
)

// Metrics are what a daemon reports on /metrics. Every daemon has the same
// set, on a registry of its own (several daemons share a test process);
// each counts what it does and leaves the rest at zero.
type Metrics struct {
	Registry *prometheus.Registry

	// TasksStarted counts task attempts started, by kind (map, reduce).
	TasksStarted *prometheus.CounterVec
	// TasksFinished counts attempts that ended, by kind and outcome (done,
	// failed, lost, superseded).
	TasksFinished *prometheus.CounterVec
	// TasksRetried counts tasks that had to run again (failure, lost node,
	// lost output, deadline, backup).
	TasksRetried *prometheus.CounterVec
	// Bytes counts data moved, by direction (in, out) and what (input,
	// partial, result).
	Bytes *prometheus.CounterVec
	// TaskSeconds is the run time of finished task attempts, by kind.
	TaskSeconds *prometheus.HistogramVec
	// JobSeconds is the time from submission to the end of a job, by job
	// kind and final state.
	JobSeconds *prometheus.HistogramVec
	// ReducerPicks counts reducer choices (first picks and re-picks).
	ReducerPicks *prometheus.CounterVec
	// ModuleCompiles counts compilations of users' WebAssembly modules: once per module and
	// process, none for a module found in the on-disk compilation cache.
	ModuleCompiles prometheus.Counter
	// NodePauses counts the times maplb paused a node after a streak of failed tasks (a user
	// program's failures do not count).
	NodePauses prometheus.Counter
}

// NewMetrics registers a daemon's metrics, plus the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		TasksStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlbp_tasks_started_total", Help: "Task attempts started, by kind.",
		}, []string{"kind"}),
		TasksFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlbp_tasks_finished_total", Help: "Task attempts ended, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		TasksRetried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlbp_tasks_retried_total", Help: "Tasks run again, by kind and reason.",
		}, []string{"kind", "reason"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlbp_bytes_total", Help: "Bytes moved, by direction and what they are.",
		}, []string{"direction", "what"}),
		TaskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dlbp_task_duration_seconds", Help: "Run time of finished task attempts.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"kind"}),
		JobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dlbp_job_duration_seconds", Help: "Time from submission to the end of a job.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 14),
		}, []string{"job", "state"}),
		ReducerPicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlbp_reducer_picks_total", Help: "Reducer choices by reducelb, first picks and re-picks.",
		}, []string{"why"}),
		ModuleCompiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dlbp_module_compiles_total", Help: "Compilations of user WebAssembly modules (cache misses).",
		}),
		NodePauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dlbp_node_pauses_total", Help: "Times maplb paused a node after a streak of failed tasks.",
		}),
	}
	reg.MustRegister(m.TasksStarted, m.TasksFinished, m.TasksRetried, m.Bytes, m.TaskSeconds, m.JobSeconds, m.ReducerPicks, m.ModuleCompiles, m.NodePauses)
	v := version.Get()
	m.Gauge("dlbp_build_info", "Which build runs: always 1, with its version, commit and Go version as labels.",
		prometheus.Labels{"version": v.Version, "commit": v.Commit, "goversion": v.Go}, func() float64 { return 1 })
	return m
}

// Gauge registers a gauge whose value is read from f at each scrape, with
// constant labels.
func (m *Metrics) Gauge(name, help string, labels prometheus.Labels, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
