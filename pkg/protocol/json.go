package protocol

import (
	"time"

	"github.com/dlbp/dlbp/pkg/sched"
)

// TimeFormat is RFC 3339 with nanoseconds, as `dlbp status --json` prints
// times.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// AttemptJSON is one attempt in `dlbp status --json`.
type AttemptJSON struct {
	Node   string `json:"node"`
	Start  string `json:"start"`
	End    string `json:"end"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// TaskJSON is one map or reduce task in `dlbp status --json`.
type TaskJSON struct {
	Task     int           `json:"task"`
	State    string        `json:"state"`
	Attempts []AttemptJSON `json:"attempts"`
}

// PickJSON is one reducer choice in `dlbp status --json`.
type PickJSON struct {
	Partition int    `json:"partition"`
	Node      string `json:"node"`
	Picked    string `json:"picked"`
	Reason    string `json:"reason"`
}

// PartJSON is where a committed part of a finished job is: its reducer and,
// when the cluster had another node, the copy.
type PartJSON struct {
	Partition int    `json:"partition"`
	Node      string `json:"node"`
	Copy      string `json:"copy,omitempty"`
	Bytes     int64  `json:"bytes"`
	// Inline: the part is small enough that maplb keeps it with the job
	// (protocol.InlineMax); it needs no copy on another node.
	Inline bool `json:"inline,omitempty"`
}

// StatusJSON is the object `dlbp status --json` prints (DESIGN.md).
type StatusJSON struct {
	ID          string            `json:"id"`
	Job         string            `json:"job"`
	Params      map[string]string `json:"params,omitempty"`
	Mapper      string            `json:"mapper,omitempty"`   // a user job's commands, as typed
	Combiner    string            `json:"combiner,omitempty"` //
	Reducer     string            `json:"reducer,omitempty"`  //
	Mode        string            `json:"mode"`
	State       string            `json:"state"`
	Error       string            `json:"error,omitempty"`
	Waiting     string            `json:"waiting,omitempty"` // why an unfinished job cannot progress now
	Partitions  int               `json:"partitions"`
	InputBytes  int64             `json:"input_bytes"`
	Submitted   string            `json:"submitted"`
	Started     string            `json:"started"`
	Finished    string            `json:"finished"`
	MapsDone    int               `json:"maps_done"`
	MapsTotal   int               `json:"maps_total"`
	ReducesDone int               `json:"reduces_done"`
	Maps        []TaskJSON        `json:"maps"`
	Reduces     []TaskJSON        `json:"reduces"`
	Reducers    []PickJSON        `json:"reducers"`
	Parts       []PartJSON        `json:"parts,omitempty"`
}

func tasksJSON(ts []sched.TaskView) []TaskJSON {
	out := make([]TaskJSON, len(ts))
	for i, t := range ts {
		out[i] = TaskJSON{Task: t.Task, State: string(t.State), Attempts: make([]AttemptJSON, len(t.Attempts))}
		for k, a := range t.Attempts {
			out[i].Attempts[k] = AttemptJSON{Node: a.Node, Start: formatTime(a.Start), End: formatTime(a.End), State: string(a.State), Reason: a.Reason}
		}
	}
	return out
}

// ToJSON converts a status to its JSON form.
func ToJSON(st *JobStatus) StatusJSON {
	out := StatusJSON{
		ID: st.ID, Job: st.Job, Params: st.Params, Mode: st.Mode, State: st.State, Error: st.Error, Waiting: st.Waiting,
		Partitions: st.Partitions, InputBytes: st.InputBytes,
		Submitted: formatTime(st.Submitted), Started: formatTime(st.Started), Finished: formatTime(st.Finished),
		MapsDone: st.MapsDone, MapsTotal: st.MapsTotal, ReducesDone: st.ReducesDone,
		Maps: tasksJSON(st.Maps), Reduces: tasksJSON(st.Reduces), Reducers: make([]PickJSON, len(st.Reducers)),
	}
	if u := st.Stream; u != nil {
		out.Mapper, out.Combiner, out.Reducer = u.Mapper.String(), u.Combiner.String(), u.Reducer.String()
	}
	for _, p := range st.Parts {
		out.Parts = append(out.Parts, PartJSON{Partition: p.Partition, Node: p.Node, Copy: p.Copy, Bytes: p.Size, Inline: p.Inline})
	}
	for i, p := range st.Reducers {
		out.Reducers[i] = PickJSON{Partition: p.Partition, Node: p.Node, Picked: formatTime(p.Picked), Reason: p.Reason}
	}
	return out
}
