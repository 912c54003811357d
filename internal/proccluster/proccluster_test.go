package proccluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFreePortDistinctAndBindable(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if !bindable(p) {
			t.Errorf("port %d is not free for TCP and UDP", p)
		}
		if low := ephemeralLow(); p >= low && low-max(low-16000, 10000) >= 1000 {
			t.Logf("port %d is in the ephemeral range (from %d): the pick below it failed 200 times", p, low)
		}
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 2); got != "c\nd" {
		t.Errorf("Tail(2) = %q, want %q", got, "c\nd")
	}
	if got := Tail(path, 10); got != "a\nb\nc\nd" {
		t.Errorf("Tail(10) = %q", got)
	}
	if got := Tail(filepath.Join(t.TempDir(), "none"), 3); !strings.HasPrefix(got, "(") {
		t.Errorf("Tail of a missing file = %q, want the error in parentheses", got)
	}
}

func TestFirstDiff(t *testing.T) {
	if d := FirstDiff([]byte("a 1\nb 2\n"), []byte("a 1\nb 2\n")); d != "" {
		t.Errorf("equal outputs: %q", d)
	}
	d := FirstDiff([]byte("a 1\nb 3\n"), []byte("a 1\nb 2\n"))
	if !strings.Contains(d, "line 2") || !strings.Contains(d, `"b 3\n"`) || !strings.Contains(d, `"b 2\n"`) {
		t.Errorf("FirstDiff = %q, want line 2 with both lines", d)
	}
	if d := FirstDiff([]byte("a 1\n"), []byte("a 1\nb 2\n")); !strings.Contains(d, "(end of output)") {
		t.Errorf("a short output: %q", d)
	}
}

func TestStatusCounts(t *testing.T) {
	st := Status{Maps: []Task{
		{Task: 0, Attempts: []Attempt{{Node: "n1", State: "lost"}, {Node: "n2", State: "done"}}},
		{Task: 1, Attempts: []Attempt{{Node: "n1", State: "running"}}},
	}}
	if got := st.DoneMapsOn(); got["n2"] != 1 || len(got) != 1 {
		t.Errorf("DoneMapsOn = %v", got)
	}
	if got := st.RunningMapsOn(); got["n1"] != 1 || len(got) != 1 {
		t.Errorf("RunningMapsOn = %v", got)
	}
	if got := st.AttemptStates(); got["lost"] != 1 || got["done"] != 1 || got["running"] != 1 {
		t.Errorf("AttemptStates = %v", got)
	}
}
