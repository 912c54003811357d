package protocol

import (
	"time"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/sched"
)

// RPC method names. A request of method M carries the struct named in its
// comment and is answered by the struct named after the arrow.
const (
	// Client → maplb.
	MethodSubmitBegin  = "submit.begin"  // SubmitBegin → SubmitBeginReply
	MethodSubmitUpload = "submit.upload" // Upload → Empty
	MethodSubmitCommit = "submit.commit" // Commit → JobStatus
	MethodJobWait      = "job.wait"      // Wait → JobStatus
	MethodJobStatus    = "job.status"    // JobRef → JobStatus
	MethodJobList      = "job.list"      // Empty → JobList
	MethodJobCancel    = "job.cancel"    // JobRef → JobStatus
	MethodNodesList    = "nodes.list"    // Empty → NodeList
	MethodResultRead   = "result.read"   // ResultRead → Chunk (also maplb → node)
	MethodBlobStat     = "blob.stat"     // BlobStat → BlobStatReply
	MethodBlobPut      = "blob.put"      // BlobPut → Empty
	MethodBlobRead     = "blob.read"     // BlobRead → Chunk (also node → maplb)

	// maplb ↔ node.
	MethodMapRun    = "map.run"     // RunMap → Empty
	MethodMapCancel = "map.cancel"  // CancelMap → Empty
	MethodInputRead = "input.read"  // InputRead → Chunk
	MethodMapDone   = "map.done"    // MapDone → Empty (node → maplb and node → reducelb)
	MethodMapFailed = "map.failed"  // MapFailed → Empty
	MethodJobForget = "job.forget"  // JobForget → Empty (maplb → node, maplb → reducelb)
	MethodNodeState = "node.status" // Empty → NodeStatus

	// maplb ↔ reducelb.
	MethodJobRegister    = "job.register"    // RegisterJob → Empty
	MethodReduceProgress = "reduce.progress" // ReduceProgress → Empty (reducelb → maplb)

	// reducelb ↔ node, node ↔ node.
	MethodReduceAdd    = "reduce.add"    // ReduceWork → WorkProgress
	MethodReduceDone   = "reduce.done"   // ReduceDone → Empty
	MethodReduceFailed = "reduce.failed" // ReduceFailed → Empty
	// PartialDamaged → Empty: a reducer found a partial damaged at its holder
	MethodPartialDamaged = "partial.damaged"
	MethodPartialRead    = "partial.read"  // PartialRead → Chunk
	MethodResultCopy     = "result.copy"   // ResultCopy → WorkProgress (reducelb → node)
	MethodResultCopied   = "result.copied" // ResultCopied → Empty (node → reducelb)

	// Relay → the relayed method's answer: a load balancer that cannot reach the other
	// directly sends through a node (see Relay).
	MethodRelay = "relay.call"
)

// Empty is the request or reply of calls that carry nothing.
type Empty struct{}

// Chunk is one piece of a bulk transfer, read by offset so that a transfer
// can resume and no frame holds more than ChunkSize bytes.
type Chunk struct {
	Data []byte `msgpack:"d"`
	EOF  bool   `msgpack:"eof"`
	// Summed says Sum is the CRC32C of Data (input chunks, checked by maplb against what the
	// client uploaded before they are sent): the reader checks it.
	Summed bool   `msgpack:"summed,omitempty"`
	Sum    uint32 `msgpack:"sum,omitempty"`
}

// SubmitBegin opens a job: its spec, and the total input size when known
// (SizeHint < 0: unknown), from which the split size is derived.
type SubmitBegin struct {
	Spec      job.Spec `msgpack:"spec"`
	SplitSize int64    `msgpack:"split"`
	SizeHint  int64    `msgpack:"hint"`
	// Commit, for a job with no input documents, commits it at once: the
	// reply then holds its status (an older maplb leaves Status nil, and
	// the client commits).
	Commit bool `msgpack:"commit,omitempty"`
	// Key, made by the client (random), makes the call idempotent: a SubmitBegin with the key
	// of a job maplb already holds answers with that job instead of opening another, so a
	// client may send it again when the answer was lost.
	Key string `msgpack:"key,omitempty"`
}

// SubmitBeginReply names the new job.
type SubmitBeginReply struct {
	Job    string     `msgpack:"job"`
	Status *JobStatus `msgpack:"status,omitempty"`
}

// Upload appends Data at Offset of document Doc of a job being submitted.
type Upload struct {
	Job    string `msgpack:"job"`
	Doc    int    `msgpack:"doc"`
	Offset int64  `msgpack:"off"`
	Data   []byte `msgpack:"data"`
	// Sum is the CRC32C of Data, made by the client as it read its file: the checksum that
	// goes with the input from there to every map task that reads it.
	Sum uint32 `msgpack:"sum"`
}

// Commit ends the upload; the job is then accepted.
type Commit struct {
	Job string `msgpack:"job"`
}

// JobRef names a job.
type JobRef struct {
	Job string `msgpack:"job"`
}

// Wait blocks until the job ends or Timeout passes, then returns its status.
type Wait struct {
	Job     string        `msgpack:"job"`
	Timeout time.Duration `msgpack:"timeout"`
}

// Job states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Terminal reports whether a job in state s is over.
func Terminal(s string) bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// JobStatus is everything known of a job: what `dlbp status` prints.
type JobStatus struct {
	ID     string            `msgpack:"id"`
	Job    string            `msgpack:"job"`
	Params map[string]string `msgpack:"params,omitempty"`
	Stream *job.Stream       `msgpack:"stream,omitempty"` // a user job's programs
	Mode   string            `msgpack:"mode"`
	State  string            `msgpack:"state"`
	Error  string            `msgpack:"error,omitempty"`
	// Waiting says why an unfinished job cannot progress now ("no reducelb in the cluster …"),
	// from what maplb's /readyz and scheduler know; empty while it can.
	Waiting     string           `msgpack:"waiting,omitempty"`
	Partitions  int              `msgpack:"partitions"`
	InputBytes  int64            `msgpack:"input"`
	Submitted   time.Time        `msgpack:"submitted"`
	Started     time.Time        `msgpack:"started"`
	Finished    time.Time        `msgpack:"finished"`
	Maps        []sched.TaskView `msgpack:"maps"`
	Reduces     []sched.TaskView `msgpack:"reduces"`
	Reducers    []sched.Pick     `msgpack:"reducers"`
	MapsDone    int              `msgpack:"mapsdone"`
	MapsTotal   int              `msgpack:"mapstotal"`
	ReducesDone int              `msgpack:"reducesdone"`
	Parts       []PartLocation   `msgpack:"parts,omitempty"` // where the result is, once succeeded
}

// JobList is every job maplb knows, newest last, without task details.
type JobList struct {
	Jobs []JobStatus `msgpack:"jobs"`
}

// NodeInfo describes one cluster member, as `dlbp nodes` prints it.
type NodeInfo struct {
	Name    string `msgpack:"name" json:"name"`
	Role    string `msgpack:"role" json:"role"`
	RPC     string `msgpack:"rpc" json:"rpc"`
	State   string `msgpack:"state" json:"state"`
	Running int    `msgpack:"running" json:"running"`
	Slots   int    `msgpack:"slots" json:"slots"`
}

// NodeList is the cluster as maplb sees it.
type NodeList struct {
	Nodes []NodeInfo `msgpack:"nodes"`
}

// NodeStatus is a node's own account of its load.
type NodeStatus struct {
	Running int    `msgpack:"running"`
	Slots   int    `msgpack:"slots"`
	Name    string `msgpack:"name,omitempty"`
	Boot    string `msgpack:"boot,omitempty"` // the run answering (cluster.Meta.Boot)
}

// ResultRead reads part Partition of a finished job from Offset. The part
// is a stream of output records (job.RecordWriter): key, then line.
type ResultRead struct {
	Job       string `msgpack:"job"`
	Partition int    `msgpack:"p"`
	Offset    int64  `msgpack:"off"`
}

// RunMap asks a node to run one map task attempt.
type RunMap struct {
	Job      string   `msgpack:"job"`
	Task     int      `msgpack:"task"`
	Attempt  int      `msgpack:"attempt"`
	Spec     job.Spec `msgpack:"spec"`
	Input    job.Task `msgpack:"input"`
	Maps     int      `msgpack:"maps"`     // map tasks in the job
	MapLB    string   `msgpack:"maplb"`    // RPC address for input.read and reports
	ReduceLB string   `msgpack:"reducelb"` // RPC address to report to; empty in mode single
}

// CancelMap stops a running map attempt (superseded, or its job ended).
type CancelMap struct {
	Job     string `msgpack:"job"`
	Task    int    `msgpack:"task"`
	Attempt int    `msgpack:"attempt"`
}

// InputRead reads Length bytes of a document's split from Offset (the
// split's own offset plus what was read so far).
type InputRead struct {
	Job    string `msgpack:"job"`
	Doc    int    `msgpack:"doc"`
	Offset int64  `msgpack:"off"`
	Length int64  `msgpack:"len"`
}

// MapDone reports a finished map attempt. Its partials stay on Node until
// the job is forgotten. Start and End are the node's clock.
type MapDone struct {
	Job      string    `msgpack:"job"`
	Task     int       `msgpack:"task"`
	Attempt  int       `msgpack:"attempt"`
	Node     string    `msgpack:"node"`
	NodeRPC  string    `msgpack:"rpc"`
	Start    time.Time `msgpack:"start"`
	End      time.Time `msgpack:"end"`
	Sizes    []int64   `msgpack:"sizes"` // bytes of each partition's partial
	Running  int       `msgpack:"running"`
	Spec     job.Spec  `msgpack:"spec"`
	MapCount int       `msgpack:"maps"`
	MapLB    string    `msgpack:"maplb"`
	// ReachedReduceLB is set on the report to maplb when reducelb took the
	// same report: maplb then need not forward it.
	ReachedReduceLB bool `msgpack:"reached"`
}

// MapFailed reports a failed map attempt. Permanent means the input itself
// is bad (a record the job cannot parse): running it elsewhere cannot help.
// User means the user's program failed: it counts against the task, not the
// node.
type MapFailed struct {
	Job       string `msgpack:"job"`
	Task      int    `msgpack:"task"`
	Attempt   int    `msgpack:"attempt"`
	Node      string `msgpack:"node"`
	Reason    string `msgpack:"reason"`
	Permanent bool   `msgpack:"permanent"`
	User      bool   `msgpack:"user,omitempty"`
}

// MapRules are the scheduling rules of a job's map tasks: a user job's
// --max-attempts, and nodes that run native programs when its mapper or
// combiner is one.
func MapRules(spec *job.Spec) sched.Rules {
	st := spec.Stream
	if st == nil {
		return sched.Rules{}
	}
	return sched.Rules{MaxAttempts: st.Attempts(), NeedsExec: st.Mapper.Native() || !st.Combiner.IsZero() && st.Combiner.Native()}
}

// ReduceRules are the scheduling rules of a job's reduce partitions.
func ReduceRules(spec *job.Spec) sched.Rules {
	st := spec.Stream
	if st == nil {
		return sched.Rules{}
	}
	return sched.Rules{MaxAttempts: st.Attempts(), NeedsExec: st.Reducer.Native()}
}

// Fault says what a failed attempt is blamed on.
func Fault(permanent, user bool) sched.Fault {
	switch {
	case permanent:
		return sched.FaultInput
	case user:
		return sched.FaultUser
	}
	return sched.FaultNode
}

// JobForget tells a daemon a job is over: drop its intermediate data, and
// with Results its committed parts too.
type JobForget struct {
	Job     string `msgpack:"job"`
	Results bool   `msgpack:"results"`
}

// RegisterJob tells reducelb of a starting job.
type RegisterJob struct {
	Job   string   `msgpack:"job"`
	Spec  job.Spec `msgpack:"spec"`
	Maps  int      `msgpack:"maps"`
	MapLB string   `msgpack:"maplb"`
}

// PartLocation says where a finished part file is: on the reducer that
// wrote it and, when the cluster had another node, on a copy.
type PartLocation struct {
	Partition int    `msgpack:"p"`
	Node      string `msgpack:"node"`
	RPC       string `msgpack:"rpc"`
	Size      int64  `msgpack:"size"`
	Copy      string `msgpack:"copy,omitempty"`     // the node holding the copy
	CopyRPC   string `msgpack:"copy_rpc,omitempty"` // its RPC address
	// Inline says Data holds the whole part: a small part travels with
	// the reducer's report and is kept by the load balancers (maplb keeps
	// it durably), so it needs no copy and no reads from the node.
	Inline bool   `msgpack:"inline,omitempty"`
	Data   []byte `msgpack:"data,omitempty"`
}

// ResultCopy asks a node to copy committed part Partition of Job from the
// reducer that wrote it (From, at FromRPC; Size bytes), so that the result
// survives the loss of either node, and to report to ReduceLB.
type ResultCopy struct {
	Job       string `msgpack:"job"`
	Partition int    `msgpack:"p"`
	From      string `msgpack:"from"`
	FromRPC   string `msgpack:"from_rpc"`
	Size      int64  `msgpack:"size"`
	ReduceLB  string `msgpack:"reducelb"`
}

// ResultCopied reports a finished (Err empty) or failed copy of a part.
type ResultCopied struct {
	Job       string `msgpack:"job"`
	Partition int    `msgpack:"p"`
	Node      string `msgpack:"node"`
	RPC       string `msgpack:"rpc"`
	From      string `msgpack:"from"`
	Err       string `msgpack:"err,omitempty"`
	// SourceDamaged says the part failed its check as it came from its reducer: the reducer's
	// file is damaged, and the partition must be reduced again.
	SourceDamaged bool `msgpack:"damaged,omitempty"`
}

// ReduceProgress is reducelb's account of a job's reduce side, sent to
// maplb on every change. It replaces the previous one.
type ReduceProgress struct {
	Job      string           `msgpack:"job"`
	Reduces  []sched.TaskView `msgpack:"reduces"`
	Reducers []sched.Pick     `msgpack:"reducers"`
	Parts    []PartLocation   `msgpack:"parts"` // committed parts
	Rerun    []int            `msgpack:"rerun"` // map tasks whose output was lost
	Done     bool             `msgpack:"done"`
	Failed   string           `msgpack:"failed"`
}

// Partial names one map task's partial output for one partition, and where
// it is.
type Partial struct {
	Task    int    `msgpack:"task"`
	Attempt int    `msgpack:"attempt"`
	Node    string `msgpack:"node"`
	RPC     string `msgpack:"rpc"`
	// Seq orders what reducelb said of the task's output (sched.MapOutput):
	// a reducer ignores news with a lower Seq than what it heard last.
	Seq int64 `msgpack:"seq,omitempty"`
}

// ReduceWork gives a reducer its partition (the first time) and tells it
// of partials to gather. Repeating it is harmless.
type ReduceWork struct {
	Job       string    `msgpack:"job"`
	Partition int       `msgpack:"p"`
	Spec      job.Spec  `msgpack:"spec"`
	Maps      int       `msgpack:"maps"`
	ReduceLB  string    `msgpack:"reducelb"`
	Partials  []Partial `msgpack:"partials"`
}

// Relay asks a node to pass a message on to a load balancer that the sender cannot reach
// itself (a link cut between maplb and reducelb only). Method must be one of RelayedMethods,
// and To the RPC address of a load balancer the node knows by gossip; Body is the message,
// encoded. The answer is the load balancer's answer, or its error.
type Relay struct {
	To     string `msgpack:"to"`
	Method string `msgpack:"method"`
	Body   []byte `msgpack:"body"`
}

// RelayedMethods are the messages a node passes on between the load balancers.
var RelayedMethods = map[string]bool{MethodReduceProgress: true, MethodJobRegister: true, MethodMapDone: true, MethodJobForget: true}

// WorkProgress answers ReduceWork and ResultCopy, which reducelb sends again every few seconds
// to the nodes that reduce or copy a partition for it: Progress counts the bytes the node has
// moved for that work so far (gathered, reduced and written; copied). reducelb gives the work
// to another node when the count stands still for its --stall-timeout, or when it gets no
// answer for as long (a node it cannot reach, though gossip says it lives).
type WorkProgress struct {
	Progress int64 `msgpack:"progress"`
}

// ReduceDone reports a committed part file.
type ReduceDone struct {
	Job       string    `msgpack:"job"`
	Partition int       `msgpack:"p"`
	Node      string    `msgpack:"node"`
	RPC       string    `msgpack:"rpc"`
	Size      int64     `msgpack:"size"`
	End       time.Time `msgpack:"end"`
	// Inline says Data is the whole part (Size ≤ InlineMax).
	Inline bool   `msgpack:"inline,omitempty"`
	Data   []byte `msgpack:"data,omitempty"`
}

// ReduceFailed reports a partition that could not be reduced.
type ReduceFailed struct {
	Job       string `msgpack:"job"`
	Partition int    `msgpack:"p"`
	Node      string `msgpack:"node"`
	Reason    string `msgpack:"reason"`
	Permanent bool   `msgpack:"permanent"`
	User      bool   `msgpack:"user,omitempty"` // the user's reducer failed
}

// PartialDamaged reports that the partial of a map task's attempt failed its check as a reducer
// fetched it from its holder (Holder's disk damaged it): reducelb drops that output and the
// map task runs again.
type PartialDamaged struct {
	Job       string `msgpack:"job"`
	Partition int    `msgpack:"p"`
	Task      int    `msgpack:"task"`
	Attempt   int    `msgpack:"attempt"`
	Holder    string `msgpack:"holder"`
	Node      string `msgpack:"node"` // the reducer that found it
	Reason    string `msgpack:"reason"`
}

// BlobStat asks which of the named blobs (WebAssembly modules and --files,
// by hex SHA-256) maplb lacks, so that a client uploads each at most once.
type BlobStat struct {
	Digests []string `msgpack:"digests"`
}

// BlobStatReply lists the digests to upload.
type BlobStatReply struct {
	Missing []string `msgpack:"missing"`
}

// BlobPut appends Data at Offset of the blob being uploaded; Last ends it:
// maplb then checks its size and digest and keeps it under that digest.
type BlobPut struct {
	Digest string `msgpack:"digest"`
	Offset int64  `msgpack:"off"`
	Data   []byte `msgpack:"data"`
	Last   bool   `msgpack:"last"`
	Size   int64  `msgpack:"size"` // the whole blob's, on every chunk
}

// BlobRead reads a blob from Offset.
type BlobRead struct {
	Digest string `msgpack:"digest"`
	Offset int64  `msgpack:"off"`
}

// MaxBlobSize bounds one module or --file.
const MaxBlobSize = 256 << 20

// PartialRead reads one map attempt's partial for one partition.
type PartialRead struct {
	Job       string `msgpack:"job"`
	Task      int    `msgpack:"task"`
	Attempt   int    `msgpack:"attempt"`
	Partition int    `msgpack:"p"`
	Offset    int64  `msgpack:"off"`
}

// ValidJobID reports whether id has the shape of a job id maplb makes: 1 to
// 64 lower-case letters and digits. Daemons refuse other ids, which could
// otherwise name paths outside a job's directory.
func ValidJobID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
