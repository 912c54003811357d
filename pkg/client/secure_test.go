package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/internal/reference"
	"github.com/dlbp/dlbp/internal/testcert"
	"github.com/dlbp/dlbp/internal/testcluster"
	"github.com/dlbp/dlbp/pkg/client"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/node"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestSecureCluster runs a cluster with a cluster secret (HMAC on every
// RPC connection, encrypted gossip) and mutual TLS: a job is exact, and a
// client or a node without the right credentials gets nothing.
func TestSecureCluster(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "dlbp test CA")
	cert, key, caFile := ca.Files(t, dir, "member")
	secret := []byte("a cluster secret of some length")
	c := testcluster.StartWith(t, 2, func(o *daemon.Options) {
		var err error
		o.Secret = secret
		o.TLSCert, o.TLSKey, o.TLSCA = cert, key, caFile
		if o.ServerTLS, o.ClientTLS, err = daemon.LoadTLS(cert, key, caFile); err != nil {
			t.Fatal(err)
		}
	})
	paths := inputs(t)
	var want bytes.Buffer
	if err := reference.WordCount(paths, &want); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"dlbp", "single"} {
		st, got := run(t, c.Client(mode), job.Spec{Job: "wordcount", Reducers: 2}, 256<<10, paths)
		if st.State != protocol.StateSucceeded {
			t.Fatalf("%s: job %s: %s", mode, st.State, st.Error)
		}
		firstDiff(t, got, want.Bytes())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, clientTLS, _ := daemon.LoadTLS(cert, key, caFile)
	other := testcert.NewCA(t, "another CA")
	ocert, okey, oca := other.Files(t, t.TempDir(), "intruder")
	_, intruderTLS, _ := daemon.LoadTLS(ocert, okey, oca)
	for name, cl := range map[string]*client.Client{
		"no TLS":       client.NewTLS(c.MapLB.RPCAddr(), secret, nil),
		"wrong CA":     client.NewTLS(c.MapLB.RPCAddr(), secret, intruderTLS),
		"no secret":    client.NewTLS(c.MapLB.RPCAddr(), nil, clientTLS),
		"wrong secret": client.NewTLS(c.MapLB.RPCAddr(), []byte("not the cluster secret at all"), clientTLS),
	} {
		_, err := cl.Jobs(ctx)
		cl.Close()
		var de *transport.DialError
		if err == nil || !errors.As(err, &de) {
			t.Errorf("%s: listing jobs gave %v, want a refused connection", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(name, "secret") && !errors.Is(err, protocol.ErrAuthFailed) && !strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q does not say the secret is wrong", name, err)
		}
	}

	// A node with the wrong secret never joins the gossip.
	o := daemon.Defaults("node")
	o.Name, o.DataDir = "intruder", t.TempDir()
	o.RPC, o.Gossip, o.Join = "127.0.0.1:0", "127.0.0.1:0", []string{c.MapLB.Cluster.GossipAddr()}
	o.Secret = []byte("a different secret, same length")
	o.ServerTLS, o.ClientTLS, _ = daemon.LoadTLS(cert, key, caFile)
	intruder, err := node.New(o, zap.NewNop(), testcluster.Gossip())
	if err != nil {
		t.Fatal(err)
	}
	if err := intruder.Start(); err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	// Negative check, bounded: over a second (ten probe intervals and many
	// join attempts) the intruder never shows up, while the members see
	// each other.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.MapLB.Cluster.Members() {
			if m.Name == "intruder" {
				t.Fatal("a node with the wrong secret joined the cluster")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(c.MapLB.Cluster.Members()); n != 5 {
		t.Fatalf("%d members, want 5", n)
	}
}

// TestWildcardListenAdvertisesReachableAddress listens on every interface:
// members must advertise an address peers can dial, not 0.0.0.0 or [::].
func TestWildcardListenAdvertisesReachableAddress(t *testing.T) {
	c := testcluster.StartWith(t, 1, func(o *daemon.Options) {
		if o.Role == "node" {
			o.RPC, o.Insecure = "0.0.0.0:0", true
		}
	})
	testcluster.WaitFor(t, 10*time.Second, "the node's address to be advertised", func() bool {
		for _, m := range c.MapLB.Cluster.Members() {
			if m.Meta.Role == "node" {
				return strings.HasPrefix(m.Meta.RPC, "127.0.0.1:")
			}
		}
		return false
	})
}
