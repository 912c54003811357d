package transport

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/protocol"
)

var rewriteCorpus = flag.Bool("rewrite", false, "rewrite the generated seeds of testdata/fuzz")

// fuzzSecret is the secret of the authenticating server of FuzzHandshake.
var fuzzSecret = []byte("fuzz-secret")

// handshakeTarget is a pair of servers, one without and one with a secret,
// each serving a method that counts its calls.
type handshakeTarget struct {
	plain, secure      *Server
	plainAddr, secAddr string
	plainRuns, secRuns atomic.Int64
	handshakeTimeout   time.Duration
}

func startHandshakeTarget(tb testing.TB) *handshakeTarget {
	ht := &handshakeTarget{handshakeTimeout: 20 * time.Millisecond}
	start := func(secret []byte, runs *atomic.Int64) (*Server, string) {
		s := NewServer(ServerConfig{Secret: secret, HandshakeTimeout: ht.handshakeTimeout,
			IdleTimeout: 50 * time.Millisecond, Logger: zap.NewNop()})
		s.Handle("fuzz.touch", func(context.Context, []byte) (any, error) {
			runs.Add(1)
			return &struct{}{}, nil
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()
		tb.Cleanup(func() {
			_ = s.Close()
			<-served
			s.wg.Wait()
		})
		return s, l.Addr().String()
	}
	ht.plain, ht.plainAddr = start(nil, &ht.plainRuns)
	ht.secure, ht.secAddr = start(fuzzSecret, &ht.secRuns)
	return ht
}

func (ht *handshakeTarget) openConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// handshakeSeeds are first bytes a client might send: a valid hello alone
// and followed by requests, a hello with the wrong magic or version,
// frames too large, empty or truncated, an auth with a made-up proof,
// and things that are not dlbp at all.
func handshakeSeeds() map[string][]byte {
	frame := func(v any) []byte {
		b, err := protocol.Marshal(v)
		if err != nil {
			panic(err)
		}
		var buf bytes.Buffer
		if err := protocol.WriteFrame(&buf, b); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hello := frame(&protocol.Hello{Magic: protocol.Magic, Version: protocol.Version})
	touch := frame(&protocol.Envelope{Seq: 1, Kind: protocol.KindRequest, Method: "fuzz.touch", Body: []byte{0x80}})
	unknown := frame(&protocol.Envelope{Seq: 2, Kind: protocol.KindRequest, Method: "no.such", Body: []byte{0x80}})
	response := frame(&protocol.Envelope{Seq: 3, Kind: protocol.KindResponse})
	auth := frame(&protocol.Auth{Proof: bytes.Repeat([]byte{7}, 32)})
	type helloNonce struct { // a Hello with a nonce of any length
		M string `msgpack:"m"`
		V int    `msgpack:"v"`
		N []byte `msgpack:"n"`
	}
	return map[string][]byte{
		"hello":                 hello,
		"hello-touch":           cat(hello, touch),
		"hello-auth-touch":      cat(hello, auth, touch),
		"hello-empty-auth":      cat(hello, frame(&protocol.Auth{})),
		"hello-unknown-method":  cat(hello, unknown),
		"hello-response":        cat(hello, response),
		"hello-garbage":         cat(hello, []byte{0, 0, 0, 3, 0xc1, 0xc1, 0xc1}),
		"hello-zero-frame":      cat(hello, []byte{0, 0, 0, 0}),
		"hello-4GiB-frame":      cat(hello, []byte{0xff, 0xff, 0xff, 0xff}),
		"hello-truncated-frame": cat(hello, touch[:len(touch)-2]),
		"hello-stalled-frame":   cat(hello, []byte{0, 0, 0, 100, 1, 2}),
		"bad-magic":             frame(&protocol.Hello{Magic: "HTTP", Version: protocol.Version}),
		"bad-version":           frame(&protocol.Hello{Magic: protocol.Magic, Version: protocol.Version + 1}),
		"hello-short-nonce":     frame(&helloNonce{protocol.Magic, protocol.Version, []byte{1, 2}}),
		"hello-long-nonce":      frame(&helloNonce{protocol.Magic, protocol.Version, bytes.Repeat([]byte{1}, 64)}),
		"hello-too-large":       cat([]byte{0, 0, 0x10, 0x01}, bytes.Repeat([]byte{0x90}, 16)),
		"hello-truncated":       hello[:len(hello)/2],
		"envelope-first":        touch,
		"zero-frame":            {0, 0, 0, 0},
		"4GiB-frame":            {0xff, 0xff, 0xff, 0xff},
		"partial-header":        {0, 0},
		"http":                  []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"tls-client-hello":      {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03},
		"empty":                 {},
	}
}

// startsWithHello reports whether data opens with a valid Hello frame, after
// which a server without a secret has finished its handshake.
func startsWithHello(data []byte) bool {
	p, err := protocol.ReadFrame(bytes.NewReader(data), protocol.MaxHandshakeFrame)
	if err != nil {
		return false
	}
	var h protocol.Hello
	return protocol.Unmarshal(p, &h) == nil && h.Magic == protocol.Magic && h.Version == protocol.Version
}

// FuzzHandshake sends arbitrary bytes as the first thing a client says to a
// server without a secret and to one with a secret, then either half-closes
// (the server sees the end at once) or stalls (the server must give up by
// its handshake timeout). Every connection the server should refuse must be
// closed by it within a bounded time, every connection must be forgotten
// once closed, and no request may ever run on the server with a secret:
// without the secret a client cannot get past the handshake.
func FuzzHandshake(f *testing.F) {
	ht := startHandshakeTarget(f)
	f.Fuzz(func(t *testing.T, secure, stall bool, data []byte) {
		s, addr := ht.plain, ht.plainAddr
		if secure {
			s, addr = ht.secure, ht.secAddr
		}
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// Read concurrently: a server may answer before it has read all.
		drained := make(chan error, 1)
		go func() {
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, nc)
			drained <- err
		}()
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(data); err == nil && !stall {
			_ = nc.(*net.TCPConn).CloseWrite()
		}
		if stall && !secure && startsWithHello(data) {
			// Past the handshake, a stalled frame is given the transport's
			// frameReadTimeout (30s), too long to wait for here: hang up
			// and check that the server lets go of the connection.
			select {
			case <-drained:
			case <-time.After(200 * time.Millisecond):
			}
		} else if err := <-drained; isTimeout(err) {
			t.Fatalf("server kept the connection open 5s after %d bytes (stall %v)", len(data), stall)
		}
		nc.Close()
		deadline := time.Now().Add(5 * time.Second)
		for ht.openConns(s) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("server still holds %d connections 5s after they closed", ht.openConns(s))
			}
			time.Sleep(time.Millisecond)
		}
		if n := ht.secRuns.Load(); n > 0 {
			t.Fatalf("a request ran on the server with a secret without authentication (%d runs)", n)
		}
	})
}

// TestFuzzHandshakeCorpus checks that testdata/fuzz/FuzzHandshake holds the
// generated seeds (each for both servers, half-closed and stalled);
// -rewrite writes them.
func TestFuzzHandshakeCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHandshake")
	if *rewriteCorpus {
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, p := range old {
			os.Remove(p)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range handshakeSeeds() {
		for _, secure := range []bool{false, true} {
			for _, stall := range []bool{false, true} {
				path := filepath.Join(dir, fmt.Sprintf("seed-%s-secret=%v-stall=%v", name, secure, stall))
				want := fmt.Appendf(nil, "go test fuzz v1\nbool(%v)\nbool(%v)\n[]byte(%q)\n", secure, stall, data)
				if *rewriteCorpus {
					if err := os.WriteFile(path, want, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s is missing or stale: run go test -run %s -rewrite", path, t.Name())
				}
			}
		}
	}
}
