package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/pkg/job"
)

// TestHelpTeaches: every command has help with examples and every flag (dlbp help CMD and
// CMD --help alike); jobs --list names every built-in job with its parameters and an example;
// version names the build.
func TestHelpTeaches(t *testing.T) {
	for _, cmd := range commandNames() {
		var a, b, errb bytes.Buffer
		if code := run([]string{"help", cmd}, nil, &a, &errb); code != 0 {
			t.Fatalf("dlbp help %s: exit %d: %s", cmd, code, errb.String())
		}
		if code := run([]string{cmd, "--help"}, nil, &b, &errb); code != 0 || a.String() != b.String() {
			t.Errorf("dlbp %s --help: exit %d, and not what dlbp help %s prints", cmd, code, cmd)
		}
		out := a.String()
		for _, want := range []string{"usage:\n  dlbp " + cmd, "examples:\n  dlbp ", "flags:\n", "--lb HOST:PORT"} {
			if !strings.Contains(out, want) {
				t.Errorf("dlbp help %s lacks %q:\n%s", cmd, want, out)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"jobs", "--list"}, nil, &out, &errb); code != 0 {
		t.Fatalf("jobs --list: exit %d: %s", code, errb.String())
	}
	for _, d := range job.Docs() {
		if !strings.Contains(out.String(), d.Name+"\n  "+d.Summary) || !strings.Contains(out.String(), "example: "+d.Example) {
			t.Errorf("jobs --list lacks %s or its example", d.Name)
		}
		for _, p := range d.Params {
			if !strings.Contains(out.String(), "--param "+p.Key+"="+p.Value) {
				t.Errorf("jobs --list lacks %s's --param %s", d.Name, p.Key)
			}
		}
	}
	out.Reset()
	if code := run([]string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "dlbp ") || !strings.Contains(out.String(), "(commit ") {
		t.Errorf("dlbp version: exit %d, %q", code, out.String())
	}
}
