package reducelb_test

import (
	"flag"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/transport"
	"github.com/dlbp/dlbp/test/hostile"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the generated seeds of testdata/fuzz")

// TestMain checks that no input leaves a goroutine behind. memberlist's
// probe goroutine outlives Shutdown for up to a probe interval.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// broken are the seeds that hang reducelb for good (see defects_test.go).
var broken = map[string]string{
	"d0-job.register-max-ints": "TestDefectRegisterHugeMapsHangs",
	"d0-map.done-max-ints":     "TestDefectRegisterHugeMapsHangs",
}

// targetReduceLB fuzzes the reduce load balancer.
func targetReduceLB(c *testcluster.Cluster) hostile.Target {
	return hostile.Target{Servers: []*transport.Server{c.ReduceLB.Server}, Methods: hostile.ReduceLBMethods, Broken: broken}
}

// FuzzReduceLB feeds arbitrary bytes, as the body of every method reducelb registers
// (and of an unknown one), to the handlers of a running in-process cluster.
// No input may panic or hang a handler. Without -fuzz, once the seeds have
// run, the same cluster must still run wordcount exactly in both modes.
func FuzzReduceLB(f *testing.F) {
	c := testcluster.Start(hostile.Quiet(f), 2)
	if !hostile.Fuzzing() {
		f.Cleanup(func() {
			f.Log("every seed has run: a failure now means one left the daemons broken")
			hostile.CheckWordCount(f, c, 30*time.Second)
		})
	}
	hostile.Fuzz(f, targetReduceLB(c))
}

// TestFuzzReduceLBCorpus checks that testdata/fuzz/FuzzReduceLB holds the generated
// seeds; -rewrite writes them.
func TestFuzzReduceLBCorpus(t *testing.T) {
	tg := hostile.Target{Servers: make([]*transport.Server, 1), Methods: hostile.ReduceLBMethods, Broken: broken}
	hostile.CheckCorpus(t, "FuzzReduceLB", tg.Seeds(), *rewrite)
}
