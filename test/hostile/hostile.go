// Package hostile is what a broken or hostile peer sends a dlbp daemon:
// message bodies of the wrong type, truncated or absurd, unknown methods,
// and (in its test) garbage frames and bad handshakes on real connections.
// The daemons' fuzz targets share its seeds and its harness, which calls a
// registered handler the way the server does and fails on a panic or a hang.
// Nothing outside tests uses it.
package hostile

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/transport"
)

// The methods each daemon registers (see the transport.Handle calls in its
// New). TestMethodLists in each daemon's package checks them against the
// daemon, so a method added later cannot escape the fuzz targets.
var (
	MapLBMethods = []string{
		protocol.MethodSubmitBegin, protocol.MethodSubmitUpload, protocol.MethodSubmitCommit,
		protocol.MethodJobWait, protocol.MethodJobStatus, protocol.MethodJobList, protocol.MethodJobCancel,
		protocol.MethodNodesList, protocol.MethodResultRead, protocol.MethodInputRead,
		protocol.MethodMapDone, protocol.MethodMapFailed, protocol.MethodReduceProgress,
		protocol.MethodBlobStat, protocol.MethodBlobPut, protocol.MethodBlobRead,
	}
	ReduceLBMethods = []string{
		protocol.MethodJobRegister, protocol.MethodMapDone, protocol.MethodReduceDone,
		protocol.MethodReduceFailed, protocol.MethodJobForget, protocol.MethodResultCopied,
		protocol.MethodPartialDamaged,
	}
	NodeMethods = []string{
		protocol.MethodMapRun, protocol.MethodMapCancel, protocol.MethodPartialRead,
		protocol.MethodResultRead, protocol.MethodReduceAdd, protocol.MethodJobForget,
		protocol.MethodNodeState, protocol.MethodResultCopy,
	}
)

// AllMethods is every method of the protocol, whoever serves it.
func AllMethods() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{MapLBMethods, ReduceLBMethods, NodeMethods, {protocol.MethodReduceProgress}} {
		for _, m := range l {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// UnknownMethod is what a selector beyond a daemon's methods calls.
const UnknownMethod = "no.such.method"

// Unroutable is an address that refuses connections at once: requests that
// name a peer (a maplb, a node) name this one, so the daemon's follow-up
// calls fail fast instead of reaching a real member.
const Unroutable = "127.0.0.1:1"

// FuzzJob is the job id the seeds name.
const FuzzJob = "jfuzz"

// FuzzDigest is the blob digest of the samples: the SHA-256 of nothing, a blob no daemon holds
// unless a fuzz input uploads it.
const FuzzDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Sample is one valid message value, named by its type.
type Sample struct {
	Type  string
	Value any
}

// Samples returns a valid value of every message type of the protocol,
// requests and responses, handshake messages included.
func Samples() []Sample {
	wc := job.Spec{Job: "wordcount", Reducers: 2, Docs: []string{"a.txt"}}
	userSpec := job.Spec{Job: job.StreamingJob, Reducers: 2, Docs: []string{"a.txt"}, Stream: &job.Stream{
		Mapper:  job.Command{Module: FuzzDigest, Args: []string{"m.wasm", "map"}},
		Reducer: job.Command{Args: []string{"cat"}},
	}}
	now := time.Unix(1700000000, 0).UTC()
	view := sched.TaskView{Task: 0, State: sched.TaskRunning, Attempts: []sched.Attempt{{Node: "node1", Start: now, State: sched.AttemptRunning}}}
	pick := sched.Pick{Partition: 0, Node: "node1", Picked: now, Reason: "fuzz"}
	partial := protocol.Partial{Task: 0, Attempt: 0, Node: "nfuzz", RPC: Unroutable}
	return []Sample{
		{"Empty", &protocol.Empty{}},
		{"Chunk", &protocol.Chunk{Data: []byte("hello\n"), EOF: true}},
		{"SubmitBegin", &protocol.SubmitBegin{Spec: wc, SplitSize: 4096, SizeHint: 6, Key: "kfuzz"}},
		{"SubmitBeginGenerated", &protocol.SubmitBegin{Spec: job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..100"}}, SizeHint: -1}},
		{"SubmitBeginCommit", &protocol.SubmitBegin{Spec: job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..100"}}, SizeHint: -1, Commit: true}},
		{"SubmitBeginUser", &protocol.SubmitBegin{Spec: userSpec, SplitSize: 4096, SizeHint: 6}},
		{"SubmitBeginReply", &protocol.SubmitBeginReply{Job: FuzzJob}},
		{"BlobStat", &protocol.BlobStat{Digests: []string{FuzzDigest}}},
		{"BlobStatReply", &protocol.BlobStatReply{Missing: []string{FuzzDigest}}},
		{"BlobPut", &protocol.BlobPut{Digest: FuzzDigest, Offset: 0, Data: []byte("\x00asm"), Last: true, Size: 4}},
		{"BlobRead", &protocol.BlobRead{Digest: FuzzDigest, Offset: 0}},
		{"Upload", &protocol.Upload{Job: FuzzJob, Doc: 0, Offset: 0, Data: []byte("hello world\n"), Sum: integrity.Sum([]byte("hello world\n"))}},
		{"Commit", &protocol.Commit{Job: FuzzJob}},
		{"JobRef", &protocol.JobRef{Job: FuzzJob}},
		{"Wait", &protocol.Wait{Job: FuzzJob, Timeout: 10 * time.Millisecond}},
		{"JobStatus", &protocol.JobStatus{ID: FuzzJob, Job: "wordcount", State: protocol.StateRunning, Partitions: 1, Submitted: now,
			Maps: []sched.TaskView{view}, Reduces: []sched.TaskView{view}, Reducers: []sched.Pick{pick}}},
		{"JobList", &protocol.JobList{Jobs: []protocol.JobStatus{{ID: FuzzJob, State: protocol.StateQueued}}}},
		{"NodeInfo", &protocol.NodeInfo{Name: "node1", Role: "node", RPC: Unroutable, State: "alive", Slots: 2}},
		{"NodeList", &protocol.NodeList{Nodes: []protocol.NodeInfo{{Name: "node1", Role: "node", RPC: Unroutable}}}},
		{"NodeStatus", &protocol.NodeStatus{Running: 1, Slots: 2}},
		{"ResultRead", &protocol.ResultRead{Job: FuzzJob, Partition: 0, Offset: 0}},
		{"RunMap", &protocol.RunMap{Job: FuzzJob, Task: 0, Attempt: 0, Spec: wc,
			Input: job.Task{Doc: 0, Offset: 0, Length: 12, FirstLine: 1}, Maps: 1, MapLB: Unroutable, ReduceLB: Unroutable}},
		{"RunMapUser", &protocol.RunMap{Job: FuzzJob, Task: 0, Attempt: 0, Spec: userSpec,
			Input: job.Task{Doc: 0, Offset: 0, Length: 12, FirstLine: 1}, Maps: 1, MapLB: Unroutable, ReduceLB: Unroutable}},
		{"RunMapGenerated", &protocol.RunMap{Job: FuzzJob, Task: 0, Attempt: 1, Spec: job.Spec{Job: "sum", Reducers: 1},
			Input: job.Task{Lo: "1", Hi: "100"}, Maps: 1, MapLB: Unroutable}},
		{"CancelMap", &protocol.CancelMap{Job: FuzzJob, Task: 0, Attempt: 0}},
		{"InputRead", &protocol.InputRead{Job: FuzzJob, Doc: 0, Offset: 0, Length: 12}},
		{"MapDone", &protocol.MapDone{Job: FuzzJob, Task: 0, Attempt: 0, Node: "nfuzz", NodeRPC: Unroutable, Start: now, End: now,
			Sizes: []int64{10, 20}, Running: 1, Spec: wc, MapCount: 1, MapLB: Unroutable}},
		{"MapFailed", &protocol.MapFailed{Job: FuzzJob, Task: 0, Attempt: 0, Node: "nfuzz", Reason: "fuzz", Permanent: true}},
		{"JobForget", &protocol.JobForget{Job: FuzzJob, Results: true}},
		{"RegisterJob", &protocol.RegisterJob{Job: FuzzJob, Spec: wc, Maps: 1, MapLB: Unroutable}},
		{"PartLocation", &protocol.PartLocation{Partition: 0, Node: "nfuzz", RPC: Unroutable, Size: 1}},
		{"ReduceProgress", &protocol.ReduceProgress{Job: FuzzJob, Reduces: []sched.TaskView{view}, Reducers: []sched.Pick{pick},
			Parts: []protocol.PartLocation{{Partition: 0, Node: "nfuzz", RPC: Unroutable}}, Rerun: []int{0}, Done: true}},
		{"Partial", &partial},
		{"ReduceWork", &protocol.ReduceWork{Job: FuzzJob, Partition: 0, Spec: wc, Maps: 1, ReduceLB: Unroutable, Partials: []protocol.Partial{partial}}},
		{"ReduceDone", &protocol.ReduceDone{Job: FuzzJob, Partition: 0, Node: "nfuzz", RPC: Unroutable, Size: 1, End: now}},
		{"ReduceDoneInline", &protocol.ReduceDone{Job: FuzzJob, Partition: 0, Node: "nfuzz", RPC: Unroutable, Size: 6, End: now, Inline: true, Data: []byte{5, 'h', 'e', 'l', 'l', 'o'}}},
		{"ReduceFailed", &protocol.ReduceFailed{Job: FuzzJob, Partition: 0, Node: "nfuzz", Reason: "fuzz"}},
		{"PartialDamaged", &protocol.PartialDamaged{Job: FuzzJob, Partition: 0, Task: 0, Attempt: 0, Holder: "nfuzz", Node: "nfuzz", Reason: "fuzz"}},
		{"ResultCopy", &protocol.ResultCopy{Job: FuzzJob, Partition: 0, From: "nfuzz", FromRPC: Unroutable, Size: 1, ReduceLB: Unroutable}},
		{"ResultCopied", &protocol.ResultCopied{Job: FuzzJob, Partition: 0, Node: "nfuzz", RPC: Unroutable, From: "nfuzz"}},
		{"PartialRead", &protocol.PartialRead{Job: FuzzJob, Task: 0, Attempt: 0, Partition: 0, Offset: 0}},
		{"Hello", &protocol.Hello{Magic: protocol.Magic, Version: protocol.Version}},
		{"Welcome", &protocol.Welcome{Version: protocol.Version, Auth: true, Proof: bytes.Repeat([]byte{1}, 32)}},
		{"Auth", &protocol.Auth{Proof: bytes.Repeat([]byte{2}, 32)}},
		{"AuthResult", &protocol.AuthResult{Error: "no"}},
		{"Envelope", &protocol.Envelope{Seq: 1, Kind: protocol.KindRequest, Method: protocol.MethodJobList, Body: []byte{0x80}}},
	}
}

// requestType is the request type of each method (messages.go's comments).
var requestType = map[string]string{
	protocol.MethodSubmitBegin: "SubmitBegin", protocol.MethodSubmitUpload: "Upload", protocol.MethodSubmitCommit: "Commit",
	protocol.MethodJobWait: "Wait", protocol.MethodJobStatus: "JobRef", protocol.MethodJobList: "Empty",
	protocol.MethodJobCancel: "JobRef", protocol.MethodNodesList: "Empty", protocol.MethodResultRead: "ResultRead",
	protocol.MethodMapRun: "RunMap", protocol.MethodMapCancel: "CancelMap", protocol.MethodInputRead: "InputRead",
	protocol.MethodMapDone: "MapDone", protocol.MethodMapFailed: "MapFailed", protocol.MethodJobForget: "JobForget",
	protocol.MethodNodeState: "Empty", protocol.MethodJobRegister: "RegisterJob", protocol.MethodReduceProgress: "ReduceProgress",
	protocol.MethodReduceAdd: "ReduceWork", protocol.MethodReduceDone: "ReduceDone", protocol.MethodReduceFailed: "ReduceFailed",
	protocol.MethodPartialRead: "PartialRead", protocol.MethodResultCopy: "ResultCopy", protocol.MethodResultCopied: "ResultCopied",
	protocol.MethodBlobStat: "BlobStat", protocol.MethodBlobPut: "BlobPut", protocol.MethodBlobRead: "BlobRead",
}

// Encode encodes v as protocol.Marshal does, but with map keys sorted, so
// that seeds are the same bytes on every run.
func Encode(v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("hostile: encoding %T: %v", v, err))
	}
	return buf.Bytes()
}

// ValidBody returns a valid encoded request of method, or nil for a method
// this package does not know.
func ValidBody(method string) []byte {
	for _, s := range Samples() {
		if s.Type == requestType[method] {
			return Encode(s.Value)
		}
	}
	return nil
}

// variants are the samples that are other valid requests of a type: each is a seed of the
// method that takes the type too.
var variants = map[string][]string{
	"SubmitBegin": {"SubmitBeginGenerated", "SubmitBeginCommit", "SubmitBeginUser"},
	"RunMap":      {"RunMapGenerated", "RunMapUser"},
	"ReduceDone":  {"ReduceDoneInline"},
}

// intFields are the msgpack names of every integer field of a request.
var intFields = []string{"doc", "off", "len", "task", "attempt", "p", "maps", "running", "size", "timeout", "split", "hint"}

// oddMap is a map that has every request field name, each set to v; the
// spec (when specV is not nil) asks for specV reducers.
func oddMap(v, specV any) []byte {
	m := map[string]any{"job": FuzzJob, "node": "nfuzz", "rpc": Unroutable, "maplb": Unroutable, "reducelb": Unroutable}
	for _, f := range intFields {
		m[f] = v
	}
	if specV != nil {
		m["spec"] = map[string]any{"job": "wordcount", "r": specV, "docs": []string{"a"}}
	}
	return Encode(m)
}

// MalformedBodies are bodies no handler can accept: they are not one
// well-formed msgpack value, or not a map, or a map of the wrong types.
func MalformedBodies() map[string][]byte {
	deep := append(bytes.Repeat([]byte{0x91}, 200), 0xc0)
	return map[string][]byte{
		"empty":          {},
		"bad-code":       {0xc1},
		"deep-nesting":   deep,
		"map32-huge":     {0xdf, 0xff, 0xff, 0xff, 0xff},
		"array32-huge":   {0xdd, 0xff, 0xff, 0xff, 0xff},
		"str32-huge":     {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		"bin32-huge":     {0xc6, 0xff, 0xff, 0xff, 0xff, 'x'},
		"ext-truncated":  {0xc9, 0x00, 0x00, 0x10, 0x00, 0x01},
		"trailing-bytes": append(Encode(&protocol.JobRef{Job: FuzzJob}), 0x00),
		"two-values":     append(Encode(&protocol.Empty{}), Encode(&protocol.Empty{})...),
		"string":         Encode("job.list"),
		"array":          Encode([]any{FuzzJob, 1, 2}),
		"wrong-types":    Encode(map[string]any{"job": 7, "task": "x", "p": []int{1}, "off": "y", "spec": 3, "maps": map[string]int{"a": 1}, "partials": "z", "d": 1.5, "timeout": "1s"}),
		"string-ints":    oddMap("1", "2"),
	}
}

// OddBodies are well-formed bodies that decode into any request but carry
// values a sane peer never sends: zero values, negative and extreme numbers.
func OddBodies() map[string][]byte {
	return map[string][]byte{
		"nil":           {0xc0},
		"float-ints":    oddMap(1.5, 2.5),
		"empty-map":     {0x80},
		"negative-ints": oddMap(-1, -1),
		"max-ints":      oddMap(int64(math.MaxInt64), 1),
		"min-ints":      oddMap(int64(math.MinInt64), 1),
		"zero-ints":     oddMap(0, 0),
		"uint64-max":    oddMap(uint64(math.MaxUint64), 1),
	}
}

// Seed is one fuzz input of a handler target: Sel picks the daemon and the
// method (see Target.Pick), Body is the request body.
type Seed struct {
	Name string
	Sel  uint8
	Body []byte
}

// Target is a set of daemons of one role and the methods they serve; a
// fuzz input's selector picks one daemon and one method (or UnknownMethod).
type Target struct {
	Servers []*transport.Server
	Methods []string
	// Broken names seeds left out of the corpus because they hang or kill
	// the process on a known defect, each with the test that reproduces it
	// on its own (in a child process): one such seed would stop every
	// other test of the package. Remove an entry once its defect is fixed.
	Broken map[string]string
}

// Pick maps a selector onto a daemon and a method.
func (tg Target) Pick(sel uint8) (*transport.Server, string) {
	n := len(tg.Methods) + 1
	srv := tg.Servers[int(sel)/n%len(tg.Servers)]
	if i := int(sel) % n; i < len(tg.Methods) {
		return srv, tg.Methods[i]
	}
	return srv, UnknownMethod
}

// sel is the selector of method i on daemon d.
func (tg Target) sel(d, i int) uint8 { return uint8(d*(len(tg.Methods)+1) + i) }

// Seeds returns the seed inputs of a target. For every method of the first
// daemon: its valid request, that request truncated, and the odd bodies;
// every malformed body and every message type, each to some method that
// does not take it; and a valid request to an unknown method. The other
// daemons get each method's valid request and odd bodies (malformed bodies
// fail in the same decoder whoever receives them).
func (tg Target) Seeds() []Seed {
	var out []Seed
	add := func(d, i int, name string, body []byte) {
		method := UnknownMethod
		if i < len(tg.Methods) {
			method = tg.Methods[i]
		}
		out = append(out, Seed{Name: fmt.Sprintf("d%d-%s-%s", d, method, name), Sel: tg.sel(d, i), Body: body})
	}
	for d := range tg.Servers {
		for i, m := range tg.Methods {
			valid := ValidBody(m)
			add(d, i, "valid", valid)
			for _, v := range Samples() {
				if slices.Contains(variants[requestType[m]], v.Type) {
					add(d, i, "valid-"+v.Type, Encode(v.Value))
				}
			}
			for name, b := range OddBodies() {
				add(d, i, name, b)
			}
			if d > 0 {
				continue
			}
			for _, cut := range []int{1, len(valid) / 2, len(valid) - 1} {
				if cut > 0 && cut < len(valid) {
					add(d, i, "truncated-"+strconv.Itoa(cut), valid[:cut])
				}
			}
		}
	}
	k := 0
	other := func() int { // the next method, round-robin
		k++
		return k % len(tg.Methods)
	}
	for _, name := range slices.Sorted(maps.Keys(MalformedBodies())) {
		add(0, other(), name, MalformedBodies()[name])
	}
	for _, s := range Samples() {
		i := other()
		if requestType[tg.Methods[i]] == s.Type {
			i = other()
		}
		add(0, i, "as-"+s.Type, Encode(s.Value))
	}
	add(0, len(tg.Methods), "valid", Encode(&protocol.Empty{}))
	out = slices.DeleteFunc(out, func(s Seed) bool { return tg.Broken[s.Name] != "" })
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// CallTimeout bounds every handler call of the harness; a handler gets this
// long (as its context's deadline) and then HangGrace to notice.
const (
	CallTimeout = 2 * time.Second
	HangGrace   = 5 * time.Second
)

// Call runs method's handler on body as the server would and fails t if it
// panics, does not return within its deadline plus HangGrace, answers an
// unknown method with anything but CodeUnknownMethod, or returns a response
// the server could not encode.
func Call(t testing.TB, srv *transport.Server, method string, body []byte) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	type result struct {
		v     any
		err   error
		panic any
		stack []byte
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic, r.stack = p, debug.Stack()
			}
			done <- r
		}()
		r.v, r.err = srv.Invoke(ctx, method, body)
	}()
	timer := time.NewTimer(CallTimeout + HangGrace)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Fatalf("DEFECT: handler %s panicked on body %x: %v\n%s", method, body, r.panic, r.stack)
		}
		if method == UnknownMethod && transport.CodeOf(r.err) != transport.CodeUnknownMethod {
			t.Fatalf("unknown method answered %v, %v", r.v, r.err)
		}
		if r.err == nil {
			if _, err := protocol.Marshal(r.v); err != nil {
				t.Fatalf("handler %s returned a response the server cannot encode: %v", method, err)
			}
		}
		return r.v, r.err
	case <-timer.C:
		t.Fatalf("DEFECT: handler %s still running %v after its deadline (a hang) on body %x\n%s",
			method, HangGrace, body, allStacks())
		return nil, nil
	}
}

func allStacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}

// Fuzz runs tg's fuzz target: every input calls one handler through Call.
// The seeds come from testdata/fuzz/<name>/ (see CheckCorpus).
func Fuzz(f *testing.F, tg Target) {
	for _, srv := range tg.Servers {
		CheckMethods(f, srv, tg.Methods)
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		srv, method := tg.Pick(sel)
		Call(t, srv, method, body)
	})
}

// Fuzzing reports whether the test binary runs with -test.fuzz (the seeds
// alone run without it).
func Fuzzing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz=") && a != "-test.fuzz=" || a == "-test.fuzzworker" || strings.HasPrefix(a, "-test.fuzzworker=") {
			return true
		}
	}
	return false
}

// corpusFile is the content of a seed file in Go's corpus format.
func corpusFile(s Seed) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.Sel, s.Body)
}

// CheckCorpus compares the seed files of testdata/fuzz/<name>/ with seeds:
// with rewrite it writes them (removing stale generated ones), without it
// it fails t for every seed missing, so the committed corpus, which
// `go test` runs, holds every seed this package generates.
func CheckCorpus(t testing.TB, name string, seeds []Seed, rewrite bool) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	if rewrite {
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, p := range old {
			os.Remove(p)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		path := filepath.Join(dir, "seed-"+s.Name)
		want := corpusFile(s)
		if rewrite {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// A seed whose message type gained a field since is still a good
		// seed: only a missing one fails.
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s is missing: run go test -run %s -rewrite", path, t.Name())
		}
	}
}

// Quiet wraps a test for testcluster.Start: the daemons' logs, which
// zaptest sends to t.Logf, go to stderr when $DLBP_TEST_LOG is set and are
// dropped otherwise. A fuzz target needs it: its *testing.F must not log
// from inside the fuzz function, where handlers log.
func Quiet(t testing.TB) testing.TB { return quietTB{t} }

type quietTB struct{ testing.TB }

func (q quietTB) Log(args ...any) {
	if os.Getenv("DLBP_TEST_LOG") != "" {
		fmt.Fprintln(os.Stderr, args...)
	}
}

func (q quietTB) Logf(format string, args ...any) {
	if os.Getenv("DLBP_TEST_LOG") != "" {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// CheckMethods fails t unless srv serves exactly methods among the
// protocol's: a registered method answers a malformed body with
// CodeBadRequest, an unregistered one with CodeUnknownMethod.
func CheckMethods(t testing.TB, srv *transport.Server, methods []string) {
	t.Helper()
	for _, m := range AllMethods() {
		_, err := srv.Invoke(context.Background(), m, []byte{0xc1})
		registered := transport.CodeOf(err) != transport.CodeUnknownMethod
		if want := slices.Contains(methods, m); registered != want {
			t.Errorf("method %s: registered %v, but the list of methods to fuzz says %v", m, registered, want)
		}
	}
}

// WriteCorpus writes a generated text of size bytes in files files under
// dir and returns their paths.
func WriteCorpus(t testing.TB, dir string, files int, size int64, seed int64) []string {
	t.Helper()
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("text-%d.txt", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := corpus.Generate(f, size, seed+int64(i)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// Submit submits wordcount on paths through cl.
func Submit(ctx context.Context, cl *client.Client, paths []string, reducers int, split int64) (string, error) {
	in, err := client.FileInputs(paths, nil)
	if err != nil {
		return "", err
	}
	st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: reducers}, split, in)
	if err != nil {
		return "", err
	}
	return st.ID, nil
}

// CheckResult waits for job id and fails t unless it succeeded with
// exactly the output of reference.WordCount on paths.
func CheckResult(t testing.TB, ctx context.Context, cl *client.Client, id string, paths []string) {
	t.Helper()
	st, err := cl.Wait(ctx, id, nil)
	if err != nil {
		t.Fatalf("waiting for job %s: %v", id, err)
	}
	if st.State != protocol.StateSucceeded {
		t.Fatalf("job %s ended %s: %s", id, st.State, st.Error)
	}
	var got, want bytes.Buffer
	if err := cl.WriteResult(ctx, st, &got); err != nil {
		t.Fatalf("reading the result of job %s: %v", id, err)
	}
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("job %s: output differs from the reference (%d bytes, want %d)", id, got.Len(), want.Len())
	}
}

// CheckWordCount runs a small wordcount in both modes on c and fails t
// unless both outputs are exact within timeout: the daemons still work
// after whatever they were fed.
func CheckWordCount(t testing.TB, c *testcluster.Cluster, timeout time.Duration) {
	t.Helper()
	paths := WriteCorpus(t, t.TempDir(), 2, 48<<10, 7)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, mode := range []string{"dlbp", "single"} {
		cl := c.Client(mode)
		id, err := Submit(ctx, cl, paths, 3, 8<<10)
		if err != nil {
			t.Fatalf("mode %s: submit: %v", mode, err)
		}
		CheckResult(t, ctx, cl, id, paths)
	}
}
