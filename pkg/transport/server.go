package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/protocol"
)

// ErrServerClosed is returned by Serve after Shutdown or Close, so the
// caller can tell a requested stop from a failure.
var ErrServerClosed = errors.New("transport: server closed")

// Handler serves one method. body is the msgpack-encoded request; the
// returned value is msgpack-encoded as the response. ctx is cancelled when
// the connection or the server closes, so long handlers should watch it.
// Return an *Error (see Errorf) to give the caller a code to act on.
type Handler func(ctx context.Context, body []byte) (any, error)

// ServerConfig configures a Server. Zero values get safe defaults, so
// ServerConfig{} is a usable insecure server.
type ServerConfig struct {
	// Secret is the cluster secret; when set every connection must prove
	// it knows it during the handshake.
	Secret []byte
	// MaxFrame bounds request frames (and our responses); 0 means
	// protocol.DefaultMaxFrame.
	MaxFrame int
	// HandshakeTimeout bounds the handshake; 0 means 5s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sent no frame for this long while
	// none of its requests was running; 0 means 5m.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response frame; 0 means 30s.
	WriteTimeout time.Duration
	// MaxConnsPerHost caps open connections from one remote IP address;
	// 0 means 512.
	MaxConnsPerHost int
	// MaxConns caps open connections; beyond it new ones are closed at once.
	// 0 means 1024.
	MaxConns int
	// Logger receives connection-level events; nil means no logging.
	Logger *zap.Logger
	// TLS, when set, wraps every connection in TLS before the handshake
	// (set ClientAuth and ClientCAs for mutual authentication).
	TLS *tls.Config
}

// maxInFlightPerConn caps the requests one connection may have running. When
// it is reached the connection's reader stops reading, which pushes back on
// the client through TCP instead of dropping requests.
const maxInFlightPerConn = 256

func (cfg ServerConfig) withDefaults() ServerConfig {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = protocol.DefaultMaxFrame
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.MaxConnsPerHost <= 0 {
		cfg.MaxConnsPerHost = 512
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// Server serves registered methods on any number of listeners.
type Server struct {
	cfg ServerConfig
	log *zap.Logger

	// baseCtx is the parent of every handler context; Close cancels it.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	hmu      sync.RWMutex
	handlers map[string]Handler

	mu        sync.Mutex
	closing   bool // Shutdown or Close has been called
	done      chan struct{}
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	perHost   map[string]int // open connections by remote IP
	wg        sync.WaitGroup // one per connection, until its handlers are done

	// draining tells read loops to stop reading and hang up once their
	// running requests are answered. It is read without s.mu.
	draining atomic.Bool
}

// NewServer returns a server with no methods; register them with Handle
// before calling Serve.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		baseCtx:    ctx,
		cancelBase: cancel,
		handlers:   make(map[string]Handler),
		done:       make(chan struct{}),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*serverConn]struct{}),
		perHost:    make(map[string]int),
	}
}

// Handle registers h for method. Registering an empty name, a nil handler,
// or the same method twice is a programming error and panics, as in
// net/http.
func (s *Server) Handle(method string, h Handler) {
	if method == "" || h == nil {
		panic("transport: Handle needs a method name and a handler")
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if _, dup := s.handlers[method]; dup {
		panic(fmt.Sprintf("transport: method %q registered twice", method))
	}
	s.handlers[method] = h
}

// Handle registers a typed handler: the request body is decoded into a new
// Req (a decoding failure answers CodeBadRequest without calling fn) and
// fn's *Resp is encoded as the response.
func Handle[Req, Resp any](s *Server, method string, fn func(ctx context.Context, req *Req) (*Resp, error)) {
	s.Handle(method, func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if err := protocol.Unmarshal(body, req); err != nil {
			return nil, Errorf(CodeBadRequest, "decoding %s request: %v", method, err)
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	})
}

// Invoke runs the handler registered for method on body, exactly as a
// request arriving on a connection would be run but without one, so tests
// can feed handlers arbitrary bodies (fuzzing) without sockets. Unlike a
// connection it does not recover a panicking handler: a fuzzer must see it.
func (s *Server) Invoke(ctx context.Context, method string, body []byte) (any, error) {
	h := s.handler(method)
	if h == nil {
		return nil, Errorf(CodeUnknownMethod, "unknown method %q", method)
	}
	return h(ctx, body)
}

func (s *Server) handler(method string) Handler {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	return s.handlers[method]
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed; any other return is an Accept failure. Temporary Accept
// errors (e.g. out of file descriptors) are retried with a growing pause.
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		_ = l.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return fmt.Errorf("transport: accepting on %s: %w", l.Addr(), err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("backoff", backoff))
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// isTemporary reports whether an Accept error is worth retrying. The
// Temporary method is deprecated for most errors, but it is still how the
// net package marks Accept errors such as EMFILE and ECONNABORTED.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.mu.Unlock()
		s.log.Warn("too many connections; closing a new one",
			zap.String("remote", nc.RemoteAddr().String()), zap.Int("max_conns", s.cfg.MaxConns))
		_ = nc.Close()
		return
	}
	host := remoteHost(nc)
	if s.perHost[host] >= s.cfg.MaxConnsPerHost {
		s.mu.Unlock()
		s.log.Warn("too many connections from one host; closing a new one",
			zap.String("remote", nc.RemoteAddr().String()), zap.Int("max_conns_per_host", s.cfg.MaxConnsPerHost))
		_ = nc.Close()
		return
	}
	s.perHost[host]++
	c := newServerConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// remoteHost is the IP address a connection comes from.
func remoteHost(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

type remoteKey struct{}

// RemoteHost returns the IP address of the client whose request a handler
// serves, from the handler's context ("" outside a handler).
func RemoteHost(ctx context.Context) string {
	h, _ := ctx.Value(remoteKey{}).(string)
	return h
}

func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	host := remoteHost(c.raw)
	if s.perHost[host]--; s.perHost[host] <= 0 {
		delete(s.perHost, host)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// beginClose stops accepting and tells every connection to drain. It is
// the common first step of Shutdown and Close.
func (s *Server) beginClose() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	// Store before waking the readers: a reader re-checks draining after
	// setting its own deadline, so one of the two always sees the other.
	s.draining.Store(true)
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("transport: closing listener %s: %w", l.Addr(), err))
		}
		delete(s.listeners, l)
	}
	for c := range s.conns {
		_ = c.raw.SetReadDeadline(time.Now()) // wake the reader
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting, stops reading new requests, lets running
// requests finish and answer, then closes every connection. If ctx ends
// first, Shutdown closes everything as Close does and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.beginClose()
	idle := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		s.cancelBase()
		return err
	case <-ctx.Done():
		_ = s.Close()
		return fmt.Errorf("transport: shutdown: %w", ctx.Err())
	}
}

// Close closes the listeners and every connection at once and cancels the
// context of every running handler. It does not wait for handlers to return.
func (s *Server) Close() error {
	err := s.beginClose()
	s.cancelBase()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.raw.Close()
	}
	s.mu.Unlock()
	return err
}

// serverConn is one accepted connection.
type serverConn struct {
	s      *Server
	nc     net.Conn // the connection the protocol speaks over (TLS when on)
	raw    net.Conn // the TCP connection under it: other goroutines close it
	log    *zap.Logger
	ctx    context.Context // handlers' context: cancelled when the connection ends
	cancel context.CancelFunc

	wmu      sync.Mutex    // serialises response frames
	slots    chan struct{} // one per running request; see maxInFlightPerConn
	handlers sync.WaitGroup
}

// errIdle and errDraining end a read loop for our own reasons.
var (
	errIdle     = errors.New("idle timeout")
	errDraining = errors.New("server shutting down")
)

// startTLS runs the TLS handshake when the server has TLS, within the
// handshake timeout, and from then on speaks through it.
func (c *serverConn) startTLS() error {
	if c.s.cfg.TLS == nil {
		return nil
	}
	tc := tls.Server(c.nc, c.s.cfg.TLS)
	_ = c.nc.SetDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.nc = tc
	return nil
}

func newServerConn(s *Server, nc net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(context.WithValue(s.baseCtx, remoteKey{}, remoteHost(nc)))
	return &serverConn{
		s:      s,
		nc:     nc,
		raw:    nc,
		log:    s.log.With(zap.String("remote", nc.RemoteAddr().String())),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan struct{}, maxInFlightPerConn),
	}
}

func (c *serverConn) serve() {
	defer c.s.forget(c)
	err := c.startTLS()
	if err == nil {
		err = protocol.ServerHandshake(c.nc, c.s.cfg.Secret, c.s.cfg.HandshakeTimeout)
	}
	if err != nil {
		if !c.s.draining.Load() {
			c.log.Warn("handshake failed; closing connection", zap.Error(err))
		}
		c.cancel()
		_ = c.nc.Close()
		return
	}
	err = c.readLoop()
	if errors.Is(err, errDraining) {
		// Shutdown: let running requests answer, then hang up.
		c.handlers.Wait()
		c.cancel()
		_ = c.nc.Close()
		return
	}
	c.logEnd(err)
	c.cancel()
	_ = c.nc.Close()
	c.handlers.Wait()
}

func (c *serverConn) logEnd(err error) {
	switch {
	case errors.Is(err, io.EOF):
		c.log.Debug("connection closed by peer")
	case errors.Is(err, errIdle):
		c.log.Debug("closing idle connection", zap.Duration("idle_timeout", c.s.cfg.IdleTimeout))
	case errors.Is(err, protocol.ErrMalformed), errors.Is(err, protocol.ErrFrameTooLarge),
		errors.Is(err, protocol.ErrEmptyFrame), errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Warn("bad frame; closing connection", zap.Error(err))
	default:
		c.log.Debug("connection ended", zap.Error(err))
	}
}

// readLoop reads requests and starts a goroutine for each, until the
// connection fails, idles out, or the server drains.
func (c *serverConn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	for {
		// Wait for the first byte of the next frame. Timing out here loses
		// nothing, so a connection busy with long requests is kept.
		if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)); err != nil {
			return err
		}
		if c.s.draining.Load() {
			return errDraining
		}
		if _, err := br.Peek(1); err != nil {
			switch {
			case c.s.draining.Load():
				return errDraining
			case isTimeout(err) && len(c.slots) > 0:
				continue
			case isTimeout(err):
				return errIdle
			}
			return err
		}

		if err := c.nc.SetReadDeadline(time.Now().Add(frameReadTimeout)); err != nil {
			return err
		}
		if c.s.draining.Load() {
			return errDraining
		}
		payload, err := protocol.ReadFrame(br, c.s.cfg.MaxFrame)
		if err != nil {
			if c.s.draining.Load() {
				return errDraining
			}
			return err
		}
		req, err := protocol.DecodeEnvelope(payload)
		if err != nil {
			return err
		}
		if req.Kind != protocol.KindRequest {
			return fmt.Errorf("%w: client sent a response (seq %d)", protocol.ErrMalformed, req.Seq)
		}

		select {
		case c.slots <- struct{}{}:
		case <-c.ctx.Done():
			return errDraining
		}
		c.handlers.Add(1)
		go c.dispatch(req)
	}
}

// dispatch runs one request and writes its response.
func (c *serverConn) dispatch(req *protocol.Envelope) {
	defer func() {
		<-c.slots
		c.handlers.Done()
	}()
	resp := &protocol.Envelope{Seq: req.Seq, Kind: protocol.KindResponse}
	body, err := c.invoke(req)
	if err != nil {
		resp.Code, resp.Error = errorToWire(err)
	} else {
		resp.Body = body
	}
	c.writeResponse(resp)
}

// invoke calls the method's handler, turning a panic into a CodeInternal
// error so one bad request cannot take the daemon down.
func (c *serverConn) invoke(req *protocol.Envelope) (body []byte, err error) {
	h := c.s.handler(req.Method)
	if h == nil {
		return nil, Errorf(CodeUnknownMethod, "unknown method %q", req.Method)
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panicked", zap.String("method", req.Method),
				zap.Any("panic", r), zap.Stack("stack"))
			err = Errorf(CodeInternal, "%s: handler panicked: %v", req.Method, r)
		}
	}()
	v, err := h(c.ctx, req.Body)
	if err != nil {
		return nil, err
	}
	body, err = protocol.Marshal(v)
	if err != nil {
		return nil, Errorf(CodeInternal, "%s: encoding response: %v", req.Method, err)
	}
	return body, nil
}

func (c *serverConn) writeResponse(resp *protocol.Envelope) {
	b, err := protocol.EncodeEnvelope(resp)
	if err == nil && len(b) > c.s.cfg.MaxFrame {
		err = fmt.Errorf("%w: response of %d bytes, limit is %d", protocol.ErrFrameTooLarge, len(b), c.s.cfg.MaxFrame)
	}
	if err != nil {
		c.log.Error("cannot send response", zap.Uint64("seq", resp.Seq), zap.Error(err))
		b, err = protocol.EncodeEnvelope(&protocol.Envelope{
			Seq: resp.Seq, Kind: protocol.KindResponse, Code: CodeInternal, Error: "cannot send response: " + err.Error(),
		})
		if err != nil {
			_ = c.nc.Close()
			return
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := protocol.WriteFrame(c.nc, b); err != nil {
		// A partial frame leaves the stream unusable: hang up, which also
		// ends the read loop.
		c.log.Debug("writing response failed; closing connection", zap.Error(err))
		_ = c.nc.Close()
	}
}
