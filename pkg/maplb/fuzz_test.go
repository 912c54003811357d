package maplb_test

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

// targetMapLB fuzzes both map load balancers: mode dlbp and mode single.
func targetMapLB(c *testcluster.Cluster) hostile.Target {
	return hostile.Target{Servers: []*transport.Server{c.MapLB.Server, c.Single.Server}, Methods: hostile.MapLBMethods}
}

// FuzzMapLB feeds arbitrary bytes, as the body of every method maplb registers
// (and of an unknown one), to the handlers of a running in-process cluster.
// No input may panic or hang a handler. Without -fuzz, once the seeds have
// run, the same cluster must still run wordcount exactly in both modes.
func FuzzMapLB(f *testing.F) {
	c := testcluster.Start(hostile.Quiet(f), 2)
	if !hostile.Fuzzing() {
		f.Cleanup(func() {
			f.Log("every seed has run: a failure now means one left the daemons broken")
			hostile.CheckWordCount(f, c, 30*time.Second)
		})
	}
	hostile.Fuzz(f, targetMapLB(c))
}

// TestFuzzMapLBCorpus checks that testdata/fuzz/FuzzMapLB holds the generated
// seeds; -rewrite writes them.
func TestFuzzMapLBCorpus(t *testing.T) {
	tg := hostile.Target{Servers: make([]*transport.Server, 2), Methods: hostile.MapLBMethods}
	hostile.CheckCorpus(t, "FuzzMapLB", tg.Seeds(), *rewrite)
}
