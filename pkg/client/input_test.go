package client_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// awkward lists inputs that real users give: each is a set of files,
// written to a temporary directory.
var awkward = map[string]map[string]string{
	"empty-files":         {"a.txt": "", "b.txt": "", "c.txt": "hello world\n"},
	"only-empty":          {"a.txt": ""},
	"no-trailing-newline": {"a.txt": "the end of the line\nhas no newline", "b.txt": "x y z"},
	"crlf":                {"a.txt": "Hello\r\nworld\r\n\r\nagain\r\n"},
	"not-utf8":            {"a.txt": "caf\xe9 na\xefve \xff\xfeword\n\x80\x81abc\xc3\n"},
	"non-ascii-letters":   {"a.txt": "café naïve Straße Ωμέγα 日本語\nCAFÉ café\n"},
	"long-line":           {"a.txt": "short\n" + strings.Repeat("long line word ", 20000) + "\nshort again\n"},
	"duplicate-lines":     {"a.txt": "b\na\nb\n\n\na\nThe walking dead\n", "b.txt": "a\nb\nthe talking head"},
}

func writeInputs(t *testing.T, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestAwkwardInput runs every text job over inputs that trip naive splitters,
// with the smallest split size so that lines straddle splits, in both modes.
func TestAwkwardInput(t *testing.T) {
	c := testcluster.Start(t, 3)
	cases := map[string][]string{}
	for name, files := range awkward {
		cases[name] = writeInputs(t, files)
	}
	many := map[string]string{}
	for i := 0; i < 36; i++ {
		many[fmt.Sprintf("f%02d.txt", i)] = strings.Repeat(fmt.Sprintf("word%c other%c line\n", 'a'+i%26, 'a'+i%7), i*3)
	}
	cases["dozens-of-files"] = writeInputs(t, many)
	for name, paths := range cases {
		for _, tj := range textJobs {
			for _, mode := range []string{"dlbp", "single"} {
				t.Run(name+"/"+tj.name+"/"+mode, func(t *testing.T) {
					var want bytes.Buffer
					if err := tj.want(paths, &want); err != nil {
						t.Fatal(err)
					}
					st, got := run(t, c.Client(mode), job.Spec{Job: tj.name, Reducers: 2, Params: tj.params}, 4<<10, paths)
					if st.State != protocol.StateSucceeded {
						t.Fatalf("job %s: %s", st.State, st.Error)
					}
					firstDiff(t, got, want.Bytes())
				})
			}
		}
	}
}

// TestStandardInput uploads from a reader standing in for standard input.
func TestStandardInput(t *testing.T) {
	c := testcluster.Start(t, 2)
	data := "one two\nthree one\n"
	p := writeInputs(t, map[string]string{"stdin.txt": data})
	var want bytes.Buffer
	if err := reference.WordCount(p, &want); err != nil {
		t.Fatal(err)
	}
	in, err := client.FileInputs([]string{"-"}, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := c.Client("dlbp")
	st, err := cl.Submit(ctx, job.Spec{Job: "wordcount", Reducers: 1}, 0, in)
	if err != nil {
		t.Fatal(err)
	}
	if st.Job != "wordcount" {
		t.Fatalf("status %+v", st)
	}
	if st, err = cl.Wait(ctx, st.ID, nil); err != nil || st.State != protocol.StateSucceeded {
		t.Fatalf("wait: %v %+v", err, st)
	}
	var got bytes.Buffer
	if err := cl.WriteResult(ctx, st, &got); err != nil {
		t.Fatal(err)
	}
	firstDiff(t, got.Bytes(), want.Bytes())
	if _, err := client.FileInputs([]string{"-", "-"}, strings.NewReader("")); err == nil {
		t.Error("standard input accepted twice")
	}
}

// TestMissingInputRefusedBeforeUpload checks that a path that does not
// exist is refused before anything reaches the cluster.
func TestMissingInputRefusedBeforeUpload(t *testing.T) {
	good := writeInputs(t, map[string]string{"a.txt": "a\n"})
	missing := filepath.Join(t.TempDir(), "nope.txt")
	_, err := client.FileInputs([]string{good[0], missing}, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("error %v, want one naming %s", err, missing)
	}
	if _, err := client.FileInputs([]string{filepath.Dir(good[0])}, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory accepted: %v", err)
	}
}
