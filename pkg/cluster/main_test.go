package cluster

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
)

var verboseLogs = flag.Bool("cluster.log", false, "log members' and memberlist's output to stderr")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist.Shutdown does not wait for a probe in progress: probeNode
		// waits for its ack for up to ProbeTimeout, then for indirect acks
		// until ProbeInterval, without watching the shutdown channel.
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// testLogger returns a logger for a member under test. It is not zaptest's:
// memberlist's goroutines may log for a moment after a test ends, which
// zaptest turns into a panic.
func testLogger(t *testing.T) *zap.Logger {
	t.Helper()
	if !*verboseLogs {
		return zap.NewNop()
	}
	l, err := zap.NewDevelopment()
	if err != nil {
		t.Fatal(err)
	}
	return l
}
