package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/errors.golden from what the client prints now")

// TestErrorMessages runs the client's commands that go wrong, against an in-process cluster,
// and compares what each prints on standard error, and its exit status, with
// testdata/errors.golden (go test ./cmd/dlbp -run TestErrorMessages -update rewrites it).
// Every message must say what was wrong and what to do, in the user's words: no RPC method, no
// error code, no address of the maplb that answered, no prefix said twice.
func TestErrorMessages(t *testing.T) {
	c := testcluster.Start(t, 1)
	t.Setenv("DLBP_LB", c.MapLB.RPCAddr())
	t.Setenv("DLBP_SECRET_FILE", "")
	dir := t.TempDir()
	text := filepath.Join(dir, "book.txt")
	if err := os.WriteFile(text, []byte("the whale\nand the sea\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := c.Client("dlbp")
	st, err := cl.Submit(ctx, job.Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": "1..10"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("the finished job: %v %+v", err, st)
	}
	done := st.ID
	cases := [][]string{
		{"submit", "--job", "grep", "--param", "patern=whale", text},
		{"submit", "--job", "grep", "--param", "pattern", text},
		{"submit", "--job", "grep", text},
		{"submit", "--job", "grep", "--param", "pattern=(", text},
		{"submit", "--job", "sum", "--param", "range=5..1"},
		{"submit", "--job", "sum", "--param", "step=2", "--param", "range=1..5"},
		{"submit", "--job", "wordcount", "--param", "pattern=x", text},
		{"submit", "--job", "wordcount"},
		{"submit", "--job", "nosuch", text},
		{"submit", "--job", "wordcount", "--reducers", "0", text},
		{"submit", "--job", "wordcount", "/nonexistent/book.txt"},
		{"submit", text},
		{"submit", "--lb", "127.0.0.1:1", "--job", "wordcount", text},
		{"status", "jnosuchjob00000"},
		{"status"},
		{"wait", "jnosuchjob00000"},
		{"cancel", done},
		{"jobs", "extra"},
		{"frobnicate"},
		{"help", "frobnicate"},
	}
	var got bytes.Buffer
	ids := regexp.MustCompile(`\bj[0-9a-z]{14}\b`)
	for _, args := range cases {
		var stdout, stderr bytes.Buffer
		code := run(args, strings.NewReader(""), &stdout, &stderr)
		out := strings.ReplaceAll(stderr.String(), dir, "$TMP")
		out = ids.ReplaceAllStringFunc(out, func(id string) string {
			if id == done {
				return "$DONE"
			}
			return id
		})
		shown := strings.ReplaceAll(strings.ReplaceAll(strings.Join(args, " "), dir, "$TMP"), done, "$DONE")
		fmt.Fprintf(&got, "$ dlbp %s\nexit %d\n%s\n", shown, code, out)
		for _, bad := range []string{c.MapLB.RPCAddr(), "submit.begin", "job.status", "bad_request", "not_found", "transport:", "grep: grep:", "wordcount: wordcount:"} {
			if strings.Contains(out, bad) {
				t.Errorf("dlbp %s: the message holds %q:\n%s", shown, bad, out)
			}
		}
		if code == 0 {
			t.Errorf("dlbp %s: exit 0 for a mistake", shown)
		}
		if strings.Count(out, "\n") > 4 {
			t.Errorf("dlbp %s: %d lines, want a message, not a manual:\n%s", shown, strings.Count(out, "\n"), out)
		}
	}
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/dlbp -run TestErrorMessages -update writes it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the client's messages differ from %s (-update rewrites it once they read right):\n%s", golden, got.String())
	}
}
