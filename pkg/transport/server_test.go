package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/dlbp/dlbp/pkg/protocol"
)

type echoReq struct {
	Text string `msgpack:"t"`
	N    int    `msgpack:"n"`
}

type echoResp struct {
	Text string `msgpack:"t"`
	N    int    `msgpack:"n"`
}

// testServer is a running Server on 127.0.0.1 with an "echo" method.
type testServer struct {
	*Server
	addr   string
	served chan error // Serve's result
}

func startServer(t *testing.T, cfg ServerConfig, register func(*Server)) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	s := NewServer(cfg)
	Handle(s, "test.echo", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: req.Text, N: req.N}, nil
	})
	if register != nil {
		register(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		s.wg.Wait() // connection goroutines log through t
	})
	return ts
}

func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	c := NewClient(cfg)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func echo(t *testing.T, c *Client, addr, text string) {
	t.Helper()
	var resp echoResp
	if err := c.Call(context.Background(), addr, "test.echo", &echoReq{Text: text}, &resp); err != nil {
		t.Fatalf("echo %q: %v", text, err)
	}
	if resp.Text != text {
		t.Fatalf("echo %q returned %q", text, resp.Text)
	}
}

func TestEcho(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	c := newClient(t, ClientConfig{})
	echo(t, c, ts.addr, "hello")
	echo(t, c, ts.addr, strings.Repeat("x", protocol.ChunkSize)) // a full chunk fits
	// resp may be nil.
	if err := c.Call(context.Background(), ts.addr, "test.echo", &echoReq{Text: "x"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallsShareOneConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		Handle(s, "test.whoami", func(ctx context.Context, req *echoReq) (*echoResp, error) {
			return &echoResp{N: req.N * 2}, nil
		})
	})
	c := newClient(t, ClientConfig{})
	const calls = 200
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp echoResp
			if err := c.Call(context.Background(), ts.addr, "test.whoami", &echoReq{N: i}, &resp); err != nil {
				errs <- err
				return
			}
			if resp.N != 2*i {
				errs <- fmt.Errorf("call %d got %d, want %d", i, resp.N, 2*i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts.mu.Lock()
	n := len(ts.conns)
	ts.mu.Unlock()
	if n != 1 {
		t.Fatalf("server has %d connections, want 1", n)
	}
}

func TestUnknownMethod(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	c := newClient(t, ClientConfig{})
	err := c.Call(context.Background(), ts.addr, "test.nope", &echoReq{}, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeUnknownMethod || CodeOf(err) != CodeUnknownMethod {
		t.Fatalf("got %v, want a RemoteError with code %s", err, CodeUnknownMethod)
	}
	if !strings.Contains(err.Error(), `unknown method "test.nope"`) {
		t.Fatalf("message %q", err)
	}
}

func TestHandlerPanic(t *testing.T) {
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.panic", func(ctx context.Context, body []byte) (any, error) {
			panic("boom")
		})
	})
	c := newClient(t, ClientConfig{})
	err := c.Call(context.Background(), ts.addr, "test.panic", nil, nil)
	if CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want an internal error mentioning the panic", err)
	}
	echo(t, c, ts.addr, "still serving")
}

func TestHandlerErrors(t *testing.T) {
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("submit.begin", func(ctx context.Context, body []byte) (any, error) {
			return nil, Errorf(CodeBadRequest, "unknown job %q", "foo")
		})
		s.Handle("test.plain", func(ctx context.Context, body []byte) (any, error) {
			return nil, errors.New("disk full")
		})
		s.Handle("test.wrapped", func(ctx context.Context, body []byte) (any, error) {
			return nil, fmt.Errorf("loading job: %w", Errorf(CodeNotFound, "no job %q", "j1"))
		})
	})
	c := newClient(t, ClientConfig{})
	ctx := context.Background()

	err := c.Call(ctx, ts.addr, "submit.begin", nil, nil)
	want := fmt.Sprintf(`%s: submit.begin: bad_request: unknown job "foo"`, ts.addr)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBadRequest || re.Msg != `unknown job "foo"` || re.Addr != ts.addr || re.Method != "submit.begin" {
		t.Fatalf("RemoteError %+v", re)
	}

	err = c.Call(ctx, ts.addr, "test.plain", nil, nil)
	if CodeOf(err) != "" || err.Error() != fmt.Sprintf("%s: test.plain: disk full", ts.addr) {
		t.Fatalf("plain error: %v (code %q)", err, CodeOf(err))
	}

	err = c.Call(ctx, ts.addr, "test.wrapped", nil, nil)
	if CodeOf(err) != CodeNotFound || !strings.Contains(err.Error(), "loading job") {
		t.Fatalf("wrapped error: %v (code %q)", err, CodeOf(err))
	}
}

func TestTypedHandlerBadRequest(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	c := newClient(t, ClientConfig{})
	err := c.Call(context.Background(), ts.addr, "test.echo", "not a struct", nil)
	if CodeOf(err) != CodeBadRequest {
		t.Fatalf("got %v, want %s", err, CodeBadRequest)
	}
}

func TestRemoteErrorFormat(t *testing.T) {
	tests := []struct {
		err  RemoteError
		want string
	}{
		{RemoteError{Method: "submit.begin", Code: "bad_request", Msg: `unknown job "foo"`, Addr: "127.0.0.1:7070"},
			`127.0.0.1:7070: submit.begin: bad_request: unknown job "foo"`},
		{RemoteError{Method: "job.status", Msg: "disk full", Addr: "h:1"}, "h:1: job.status: disk full"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if CodeOf(nil) != "" || CodeOf(errors.New("x")) != "" || CodeOf(Errorf(CodeBusy, "x")) != CodeBusy {
		t.Error("CodeOf")
	}
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDialError(t *testing.T) {
	c := newClient(t, ClientConfig{})
	addr := closedPort(t)
	err := c.Call(context.Background(), addr, "test.echo", nil, nil)
	var de *DialError
	if !errors.As(err, &de) || de.Addr != addr {
		t.Fatalf("got %v, want a DialError for %s", err, addr)
	}
	var re *RemoteError
	if errors.As(err, &re) {
		t.Fatal("a dial error is not a remote error")
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		Handle(s, "test.slow", func(ctx context.Context, req *echoReq) (*echoResp, error) {
			close(started)
			<-release
			return &echoResp{Text: "done"}, nil
		})
	})
	c := newClient(t, ClientConfig{})
	callDone := make(chan error, 1)
	var resp echoResp
	go func() { callDone <- c.Call(context.Background(), ts.addr, "test.slow", &echoReq{}, &resp) }()
	<-started

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- ts.Shutdown(context.Background()) }()

	// Serve returns at once; Shutdown waits for the handler.
	if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	ts.served <- ErrServerClosed // for the cleanup
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	case err := <-callDone:
		t.Fatalf("call returned %v before the handler finished", err)
	default:
	}
	// New connections are refused while draining.
	c2 := newClient(t, ClientConfig{DialTimeout: time.Second})
	var de *DialError
	if err := c2.Call(context.Background(), ts.addr, "test.echo", &echoReq{}, nil); !errors.As(err, &de) {
		t.Fatalf("call during shutdown: %v, want DialError", err)
	}

	close(release)
	if err := <-callDone; err != nil || resp.Text != "done" {
		t.Fatalf("in-flight call: %v %+v", err, resp)
	}
	if err := <-shutdownDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	started := make(chan struct{})
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.stuck", func(ctx context.Context, body []byte) (any, error) {
			close(started)
			<-ctx.Done() // only the server closing ends this
			return nil, ctx.Err()
		})
	})
	c := newClient(t, ClientConfig{})
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(context.Background(), ts.addr, "test.stuck", nil, nil) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if err := <-callDone; err == nil {
		t.Fatal("call succeeded after a forced shutdown")
	}
}

func TestCloseCuts(t *testing.T) {
	started := make(chan struct{})
	handlerCtxDone := make(chan struct{})
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.stuck", func(ctx context.Context, body []byte) (any, error) {
			close(started)
			<-ctx.Done()
			close(handlerCtxDone)
			return nil, ctx.Err()
		})
	})
	c := newClient(t, ClientConfig{})
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(context.Background(), ts.addr, "test.stuck", nil, nil) }()
	<-started
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-callDone
	if err == nil || !strings.Contains(err.Error(), ts.addr) {
		t.Fatalf("call after Close: %v, want a connection error naming %s", err, ts.addr)
	}
	<-handlerCtxDone
	// Serve must have returned ErrServerClosed: the cleanup checks.
}

// rawConn dials the server without the transport client.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// expectClosed reads until the server hangs up; it fails the test if the
// connection is still open after a generous safety deadline.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	if isTimeout(err) {
		t.Fatal("server did not close the connection")
	}
}

func TestOversizedFrameClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxFrame: 1 << 10}, nil)
	nc := rawConn(t, ts.addr)
	if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte{0x7f, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, nc)
	echo(t, newClient(t, ClientConfig{}), ts.addr, "still serving")
}

func TestBadInputClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	handshaken := func(t *testing.T) net.Conn {
		nc := rawConn(t, ts.addr)
		if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		return nc
	}
	frame := func(t *testing.T, nc net.Conn, payload []byte) {
		if err := protocol.WriteFrame(nc, payload); err != nil {
			t.Fatal(err)
		}
	}
	response, _ := protocol.EncodeEnvelope(&protocol.Envelope{Seq: 1, Kind: protocol.KindResponse})
	tests := map[string]func(t *testing.T) net.Conn{
		"garbage before handshake": func(t *testing.T) net.Conn {
			nc := rawConn(t, ts.addr)
			_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			return nc
		},
		"zero length frame": func(t *testing.T) net.Conn {
			nc := handshaken(t)
			_, _ = nc.Write([]byte{0, 0, 0, 0})
			return nc
		},
		"garbage envelope": func(t *testing.T) net.Conn {
			nc := handshaken(t)
			frame(t, nc, []byte{0xc1, 0xc1})
			return nc
		},
		"response from client": func(t *testing.T) net.Conn {
			nc := handshaken(t)
			frame(t, nc, response)
			return nc
		},
		"truncated frame": func(t *testing.T) net.Conn {
			nc := handshaken(t)
			_, _ = nc.Write([]byte{0, 0, 0, 10, 1, 2})
			_ = nc.(*net.TCPConn).CloseWrite()
			return nc
		},
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			expectClosed(t, send(t))
			echo(t, newClient(t, ClientConfig{}), ts.addr, "still serving")
		})
	}
}

func TestWrongVersionClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	nc := rawConn(t, ts.addr)
	hello, err := protocol.Marshal(&protocol.Hello{Magic: protocol.Magic, Version: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteFrame(nc, hello); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := protocol.ReadFrame(nc, protocol.MaxHandshakeFrame)
	if err != nil {
		t.Fatal(err)
	}
	var w protocol.Welcome
	if err := protocol.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Error, "protocol version 7 not supported (this daemon speaks 1)") {
		t.Fatalf("welcome error %q", w.Error)
	}
	expectClosed(t, nc)
	echo(t, newClient(t, ClientConfig{}), ts.addr, "still serving")
}

func TestSecret(t *testing.T) {
	ts := startServer(t, ServerConfig{Secret: []byte("right")}, nil)
	echo(t, newClient(t, ClientConfig{Secret: []byte("right")}), ts.addr, "authenticated")

	for name, secret := range map[string][]byte{"wrong secret": []byte("wrong"), "no secret": nil} {
		t.Run(name, func(t *testing.T) {
			err := newClient(t, ClientConfig{Secret: secret}).Call(context.Background(), ts.addr, "test.echo", &echoReq{}, nil)
			var de *DialError
			if !errors.As(err, &de) || !errors.Is(err, protocol.ErrAuthFailed) {
				t.Fatalf("got %v, want a DialError wrapping ErrAuthFailed", err)
			}
		})
	}

	insecure := startServer(t, ServerConfig{}, nil)
	err := newClient(t, ClientConfig{Secret: []byte("right")}).Call(context.Background(), insecure.addr, "test.echo", &echoReq{}, nil)
	if !errors.Is(err, protocol.ErrAuthFailed) || !strings.Contains(err.Error(), "server does not authenticate") {
		t.Fatalf("client with secret, server without: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, ServerConfig{IdleTimeout: 50 * time.Millisecond}, nil)
	nc := rawConn(t, ts.addr)
	if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, nc)
	waitFor(t, "the server to forget the idle connection", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return len(ts.conns) == 0
	})
}

func TestIdleTimeoutSparesRunningRequests(t *testing.T) {
	const idle = 100 * time.Millisecond
	started := make(chan struct{})
	release := make(chan struct{})
	ts := startServer(t, ServerConfig{IdleTimeout: idle}, func(s *Server) {
		s.Handle("test.slow", func(ctx context.Context, body []byte) (any, error) {
			close(started)
			select {
			case <-release:
				return "ok", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	})
	// A raw client sends its request right after the handshake, so even a
	// slow machine sends it well within the idle timeout.
	nc := rawConn(t, ts.addr)
	if err := protocol.ClientHandshake(nc, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	req, err := protocol.EncodeEnvelope(&protocol.Envelope{Seq: 1, Kind: protocol.KindRequest, Method: "test.slow", Body: []byte{0xc0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteFrame(nc, req); err != nil {
		t.Fatal(err)
	}
	<-started
	time.Sleep(3 * idle) // let idle timeouts pass while the request runs; not an assertion
	close(release)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := protocol.ReadFrame(nc, 0)
	if err != nil {
		t.Fatalf("the connection did not survive a long request: %v", err)
	}
	resp, err := protocol.DecodeEnvelope(b)
	if err != nil || resp.Seq != 1 || resp.Error != "" {
		t.Fatalf("response %+v, %v", resp, err)
	}
	expectClosed(t, nc) // and once idle, it is closed
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxConns: 1}, nil)
	c := newClient(t, ClientConfig{})
	echo(t, c, ts.addr, "first")
	expectClosed(t, rawConn(t, ts.addr))
	echo(t, c, ts.addr, "first still works")
}

func TestCallCancel(t *testing.T) {
	started := make(chan struct{})
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.stuck", func(ctx context.Context, body []byte) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := newClient(t, ClientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(ctx, ts.addr, "test.stuck", nil, nil) }()
	<-started
	cancel()
	select {
	case err := <-callDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	// The connection is still usable.
	echo(t, c, ts.addr, "after cancel")
}

func TestCallTimeout(t *testing.T) {
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.stuck", func(ctx context.Context, body []byte) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := newClient(t, ClientConfig{CallTimeout: 50 * time.Millisecond})
	if err := c.Call(context.Background(), ts.addr, "test.stuck", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}

func TestBrokenConnectionFailsPendingAndRedials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	// The first connection gets a server that reads one request and dies.
	crashed := make(chan struct{})
	go func() {
		defer close(crashed)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		if protocol.ServerHandshake(nc, nil, 5*time.Second) == nil {
			_, _ = protocol.ReadFrame(nc, 0)
		}
	}()
	c := newClient(t, ClientConfig{})
	err = c.Call(context.Background(), addr, "test.echo", &echoReq{}, nil)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("call on a dying connection: %v, want an error naming %s", err, addr)
	}
	var de *DialError
	if errors.As(err, &de) {
		t.Fatalf("a lost connection is not a dial error: %v", err)
	}
	<-crashed
	// Then a real server takes over the listener; the next call redials.
	s := NewServer(ServerConfig{Logger: zaptest.NewLogger(t)})
	Handle(s, "test.echo", func(ctx context.Context, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: req.Text}, nil
	})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	echo(t, c, addr, "redialled")
	_ = s.Close()
	<-served
	s.wg.Wait()
}

func TestClientClose(t *testing.T) {
	started := make(chan struct{})
	ts := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle("test.stuck", func(ctx context.Context, body []byte) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := NewClient(ClientConfig{})
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(context.Background(), ts.addr, "test.stuck", nil, nil) }()
	<-started
	_ = c.Close()
	if err := <-callDone; !errors.Is(err, ErrClientClosed) {
		t.Fatalf("pending call after Close: %v, want ErrClientClosed", err)
	}
	if err := c.Call(context.Background(), ts.addr, "test.echo", nil, nil); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("call after Close: %v, want ErrClientClosed", err)
	}
}

func TestRequestTooLarge(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	c := newClient(t, ClientConfig{MaxFrame: 1 << 10})
	err := c.Call(context.Background(), ts.addr, "test.echo", &echoReq{Text: strings.Repeat("x", 2<<10)}, nil)
	if !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	echo(t, c, ts.addr, "the connection survives")
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline; tests wait on conditions, never on fixed sleeps.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientGivesUpOnSilentPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A peer that completes handshakes and reads requests but never answers
	// (a hung process, or a network that swallows everything).
	var wg sync.WaitGroup
	accepted := make(chan net.Conn, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- nc
			wg.Add(1)
			go func() {
				defer wg.Done()
				if protocol.ServerHandshake(nc, nil, 5*time.Second) == nil {
					_, _ = io.Copy(io.Discard, nc)
				}
			}()
		}
	}()

	c := newClient(t, ClientConfig{CallTimeout: 20 * time.Millisecond})
	c.deadPeerGrace = 20 * time.Millisecond
	addr := l.Addr().String()
	if err := c.Call(context.Background(), addr, "test.echo", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	first := <-accepted
	waitFor(t, "the client to drop the silent connection", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.conns) == 0
	})
	if err := c.Call(context.Background(), addr, "test.echo", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	second := <-accepted // the second call redialled
	_ = c.Close()
	l.Close()
	first.Close()
	second.Close()
	wg.Wait()
}
