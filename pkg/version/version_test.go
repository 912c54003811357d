package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	i := Get()
	if i.Go != runtime.Version() || i.Version == "" || i.Commit == "" {
		t.Fatalf("Get() = %+v", i)
	}
	s := i.String("maplb")
	if !strings.HasPrefix(s, "maplb "+i.Version+" (commit "+i.Commit+", "+runtime.Version()) {
		t.Fatalf("String = %q", s)
	}
}
