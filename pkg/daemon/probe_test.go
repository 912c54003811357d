package daemon

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

func TestJudgeProbe(t *testing.T) {
	target := ProbeTarget{Name: "n1", RPC: "127.0.0.1:1", Boot: "b1"}

	// A refused connection, made for real: nothing listens on a port just
	// closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := transport.NewClient(transport.ClientConfig{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	refused := c.Call(ctx, addr, protocol.MethodNodeState, &protocol.Empty{}, &protocol.NodeStatus{})
	if refused == nil {
		t.Fatalf("call to closed port %s succeeded", addr)
	}

	for _, tc := range []struct {
		name string
		st   protocol.NodeStatus
		err  error
		want ProbeVerdict
	}{
		{"same run answers", protocol.NodeStatus{Name: "n1", Boot: "b1"}, nil, ProbeAlive},
		{"old node without boot", protocol.NodeStatus{}, nil, ProbeAlive},
		{"restarted", protocol.NodeStatus{Name: "n1", Boot: "b2"}, nil, ProbeGone},
		{"another member on the port", protocol.NodeStatus{Name: "n2", Boot: "b1"}, nil, ProbeGone},
		{"connection refused", protocol.NodeStatus{}, refused, ProbeGone},
		{"timeout proves nothing", protocol.NodeStatus{}, context.DeadlineExceeded, ProbeUnknown},
	} {
		got, why := judgeProbe(target, &tc.st, tc.err)
		if got != tc.want {
			t.Errorf("%s: verdict %d (%q), want %d", tc.name, got, why, tc.want)
		}
	}
}
