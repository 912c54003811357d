package daemon

import (
	"fmt"
	"testing"
	"time"
)

func TestLeavesDebounceFlaps(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	l := NewLeaves(time.Second)
	l.Left("a", t0)
	l.Left("b", t0.Add(100*time.Millisecond))
	l.Left("a", t0.Add(500*time.Millisecond)) // the first report counts
	if due := l.Due(t0.Add(999 * time.Millisecond)); len(due) != 0 {
		t.Fatalf("due before the grace: %v", due)
	}
	if !l.Back("b") || l.Pending("b") {
		t.Fatal("b's flap not forgotten")
	}
	if l.Back("c") {
		t.Fatal("a member never gone reported as back")
	}
	if due := l.Due(t0.Add(time.Second)); fmt.Sprint(due) != "[a]" {
		t.Fatalf("due %v, want [a]", due)
	}
	if l.Pending("a") || len(l.Due(t0.Add(time.Hour))) != 0 {
		t.Fatal("a final departure reported twice")
	}
}
