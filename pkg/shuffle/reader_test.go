package shuffle

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// TestReaderInOrder reads remote files of awkward sizes through a Reader,
// which keeps several chunk requests in flight, and compares the bytes. The
// server answers whole chunks (as ReadChunk does) or, in the "short" case,
// at most a third of a chunk without saying EOF, so that the requests sent
// ahead asked for the wrong offsets and must be sent again; and the size is
// given or not.
func TestReaderInOrder(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var short atomic.Bool
	var mu sync.Mutex
	files := map[string][]byte{} // by the name of each case: a late request of one is not counted in the next
	requests := map[string]int64{}
	srv := transport.NewServer(transport.ServerConfig{})
	transport.Handle(srv, protocol.MethodResultRead, func(_ context.Context, r *protocol.ResultRead) (*protocol.Chunk, error) {
		mu.Lock()
		requests[r.Job]++
		data := files[r.Job]
		mu.Unlock()
		if r.Offset > int64(len(data)) {
			return &protocol.Chunk{EOF: true}, nil
		}
		n := int64(protocol.ChunkSize)
		if short.Load() {
			n = protocol.ChunkSize/3 + 1
		}
		end := min(r.Offset+n, int64(len(data)))
		return &protocol.Chunk{Data: data[r.Offset:end], EOF: end == int64(len(data))}, nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	client := transport.NewClient(transport.ClientConfig{})
	defer client.Close()

	for _, size := range []int{0, 1, protocol.ChunkSize - 1, protocol.ChunkSize, protocol.ChunkSize + 1, 5*protocol.ChunkSize + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, isShort := range []bool{false, true} {
			for _, known := range []bool{false, true} {
				name := fmt.Sprintf("j%d-%v-%v", size, isShort, known)
				mu.Lock()
				files[name] = data
				mu.Unlock()
				short.Store(isShort)
				hint := int64(-1)
				if known {
					hint = int64(size)
				}
				r := NewReader(context.Background(), client, l.Addr().String(), protocol.MethodResultRead, hint, func(off int64) any {
					return &protocol.ResultRead{Job: name, Offset: off}
				})
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil {
					t.Fatalf("%d bytes, short %v, size known %v: %v", size, isShort, known, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%d bytes, short %v, size known %v: read %d bytes that differ", size, isShort, known, len(got))
				}
				// Whole chunks and a known size: one request per chunk, none wasted.
				mu.Lock()
				n := requests[name]
				mu.Unlock()
				if want := max((int64(size)+protocol.ChunkSize-1)/protocol.ChunkSize, 1); !isShort && known && n != want {
					t.Errorf("%d bytes in whole chunks, size known: %d requests, want %d", size, n, want)
				}
			}
		}
	}
}
