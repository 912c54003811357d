package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestSubmitBeginIsIdempotent: a submit.begin sent again with its key (its answer was lost)
// names the same job instead of opening a second one, for a job without input (committed in
// the same call) and for one whose upload is to come; another key is another job.
func TestSubmitBeginIsIdempotent(t *testing.T) {
	c := testcluster.Start(t, 1)
	rpc := transport.NewClient(transport.ClientConfig{})
	defer rpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := func(req *protocol.SubmitBegin) *protocol.SubmitBeginReply {
		t.Helper()
		var reply protocol.SubmitBeginReply
		if err := rpc.Call(ctx, c.MapLB.RPCAddr(), protocol.MethodSubmitBegin, req, &reply); err != nil {
			t.Fatal(err)
		}
		return &reply
	}
	jobs := func() int {
		var list protocol.JobList
		if err := rpc.Call(ctx, c.MapLB.RPCAddr(), protocol.MethodJobList, &protocol.Empty{}, &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Jobs)
	}
	sum := job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..10"}}
	first := begin(&protocol.SubmitBegin{Spec: sum, Commit: true, Key: "k-sum"})
	again := begin(&protocol.SubmitBegin{Spec: sum, Commit: true, Key: "k-sum"})
	if first.Job != again.Job || again.Status == nil {
		t.Fatalf("the same key gave jobs %s and %s (status %v)", first.Job, again.Job, again.Status)
	}
	if n := jobs(); n != 1 {
		t.Fatalf("%d jobs after one submission sent twice", n)
	}
	wc := job.Spec{Job: "wordcount", Reducers: 1, Docs: []string{"a.txt"}}
	up := begin(&protocol.SubmitBegin{Spec: wc, Key: "k-wc"})
	if up2 := begin(&protocol.SubmitBegin{Spec: wc, Key: "k-wc"}); up2.Job != up.Job || up2.Status != nil {
		t.Fatalf("the same key gave jobs %s and %s", up.Job, up2.Job)
	}
	if other := begin(&protocol.SubmitBegin{Spec: wc, Key: "k-other"}); other.Job == up.Job {
		t.Fatal("another key gave the same job")
	}
}
