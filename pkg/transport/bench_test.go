package transport

import (
	"context"
	"net"
	"testing"

	"github.com/dlbp/dlbp/pkg/protocol"
)

// BenchmarkCall is one small call and its answer over loopback: the cost of a hop.
func BenchmarkCall(b *testing.B) {
	srv := NewServer(ServerConfig{})
	Handle(srv, protocol.MethodNodeState, func(context.Context, *protocol.Empty) (*protocol.NodeStatus, error) {
		return &protocol.NodeStatus{Running: 1, Slots: 2}, nil
	})
	addr, c := benchPair(b, srv)
	ctx := context.Background()
	var st protocol.NodeStatus
	if err := c.Call(ctx, addr, protocol.MethodNodeState, &protocol.Empty{}, &st); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Call(ctx, addr, protocol.MethodNodeState, &protocol.Empty{}, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpload is 1 MiB chunks sent to a handler that keeps nothing, 4 in flight as the
// client's upload does: the transport's share of an upload's cost.
func BenchmarkUpload(b *testing.B) {
	srv := NewServer(ServerConfig{})
	Handle(srv, protocol.MethodSubmitUpload, func(_ context.Context, r *protocol.Upload) (*protocol.Empty, error) {
		return &protocol.Empty{}, nil
	})
	addr, c := benchPair(b, srv)
	ctx := context.Background()
	chunk := make([]byte, protocol.ChunkSize)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	sem := make(chan struct{}, 4)
	errs := make(chan error, b.N)
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- c.Call(ctx, addr, protocol.MethodSubmitUpload, &protocol.Upload{Job: "j", Data: chunk}, nil)
		}()
	}
	for i := 0; i < b.N; i++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// benchPair serves srv on a loopback port and returns its address and a client; both stop
// when the benchmark ends.
func benchPair(b *testing.B, srv *Server) (string, *Client) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	c := NewClient(ClientConfig{})
	b.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return l.Addr().String(), c
}
