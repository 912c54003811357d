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
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/protocol"
)

// ErrClientClosed is returned by calls made on, or cut short by, a closed
// Client.
var ErrClientClosed = errors.New("transport: client closed")

// ClientConfig configures a Client. Zero values get safe defaults.
type ClientConfig struct {
	// Secret is the cluster secret; with it the client refuses servers that
	// cannot prove they know it.
	Secret []byte
	// MaxFrame bounds response frames (and our requests); 0 means
	// protocol.DefaultMaxFrame.
	MaxFrame int
	// DialTimeout bounds connecting plus the handshake; 0 means 5s.
	DialTimeout time.Duration
	// WriteTimeout bounds writing one request frame; 0 means 30s.
	WriteTimeout time.Duration
	// CallTimeout bounds a call whose context has no deadline; 0 means 30s.
	CallTimeout time.Duration
	// Logger receives connection-level events; nil means no logging.
	Logger *zap.Logger
	// TLS, when set, wraps every connection in TLS (with Certificates for
	// mutual authentication). An empty ServerName is taken from the address.
	TLS *tls.Config
}

// deadPeerGrace is how long after a call's deadline, with no frame received,
// the client gives up on a connection. Calls already failed on their own
// deadlines; this only decides that the next call should redial instead of
// queueing behind a peer that stopped answering (hung, or cut off by the
// network where TCP would take many minutes to notice).
const deadPeerGrace = 10 * time.Second

func (cfg ClientConfig) withDefaults() ClientConfig {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = protocol.DefaultMaxFrame
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// Client calls methods on peers. It keeps one connection per address, shared
// by all concurrent calls to it, dialled on first use and redialled after it
// breaks. A Client is safe for concurrent use.
type Client struct {
	cfg ClientConfig
	log *zap.Logger

	// ctx is cancelled by Close to abort dials in progress.
	ctx    context.Context
	cancel context.CancelFunc

	// deadPeerGrace is the constant of the same name; tests shorten it.
	deadPeerGrace time.Duration

	mu     sync.Mutex
	closed bool
	conns  map[string]*clientConn
	dials  map[string]*dialAttempt
	wg     sync.WaitGroup // dial goroutines and read loops
}

// dialAttempt lets concurrent first calls to an address share one dial.
type dialAttempt struct {
	done chan struct{}
	cc   *clientConn
	err  error
}

// NewClient returns a Client; it dials nothing until the first Call.
func NewClient(cfg ClientConfig) *Client {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cfg:           cfg,
		log:           cfg.Logger,
		ctx:           ctx,
		cancel:        cancel,
		deadPeerGrace: deadPeerGrace,
		conns:         make(map[string]*clientConn),
		dials:         make(map[string]*dialAttempt),
	}
}

// Call sends req to method at addr and decodes the answer into resp (which
// may be nil to ignore it). Without a deadline in ctx the call is bounded by
// CallTimeout. Errors are a *DialError when addr could not be reached, a
// *RemoteError when the peer answered with an error, and otherwise a
// transport failure (connection lost, ctx done) naming the address. A call
// is never retried: the caller knows whether the method is idempotent.
func (c *Client) Call(ctx context.Context, addr, method string, req, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	body, err := protocol.Marshal(req)
	if err != nil {
		return fmt.Errorf("transport: %s %s: encoding request: %w", addr, method, err)
	}
	cc, err := c.conn(ctx, addr)
	if err != nil {
		return err
	}
	env, err := cc.roundTrip(ctx, method, body)
	if err != nil {
		return err
	}
	if env.Error != "" || env.Code != "" {
		return &RemoteError{Method: method, Code: env.Code, Msg: env.Error, Addr: addr}
	}
	if resp != nil {
		if err := protocol.Unmarshal(env.Body, resp); err != nil {
			return fmt.Errorf("transport: %s %s: decoding response: %w", addr, method, err)
		}
	}
	return nil
}

// Close fails every pending call with ErrClientClosed, closes every
// connection and waits for the client's goroutines to finish.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := make([]*clientConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	c.cancel()
	for _, cc := range conns {
		cc.fail(ErrClientClosed)
	}
	c.wg.Wait()
	return nil
}

// Reset drops the connection to addr, if there is one: its pending calls
// fail and the next call dials afresh. For a peer that was cut off and is
// back: TCP may still be backing off its retransmissions on the old
// connection, and calls queued there would wait for it.
func (c *Client) Reset(addr string) {
	c.mu.Lock()
	cc := c.conns[addr]
	c.mu.Unlock()
	if cc != nil {
		cc.fail(errors.New("reset: the peer rejoined the cluster"))
	}
}

// conn returns the live connection to addr, dialling if there is none.
func (c *Client) conn(ctx context.Context, addr string) (*clientConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClientClosed
	}
	var stalled *clientConn
	if cc := c.conns[addr]; cc != nil {
		if !retransmitting(cc.nc) {
			c.mu.Unlock()
			return cc, nil
		}
		// The stream is stuck behind a retransmission (the link was cut): a new call would
		// wait for it, seconds after the link is back. It gets a fresh connection; the old
		// one keeps its pending calls and closes when they are over.
		delete(c.conns, addr)
		c.log.Debug("connection stalled (the kernel is retransmitting): new calls go on a fresh one", zap.String("addr", addr))
		stalled = cc
	}
	d := c.dials[addr]
	if d == nil {
		d = &dialAttempt{done: make(chan struct{})}
		c.dials[addr] = d
		c.wg.Add(1)
		go c.dial(addr, d)
	}
	c.mu.Unlock()
	if stalled != nil {
		stalled.retire() // not under c.mu: closing it takes c.mu
	}
	select {
	case <-d.done:
		return d.cc, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: connecting to %s: %w", addr, ctx.Err())
	}
}

// dial runs one dial attempt in the background, so a caller whose context
// ends does not abort it for the others waiting on it.
func (c *Client) dial(addr string, d *dialAttempt) {
	defer c.wg.Done()
	cc, err := c.connect(addr)
	c.mu.Lock()
	delete(c.dials, addr)
	if err == nil && c.closed {
		_ = cc.nc.Close()
		cc, err = nil, ErrClientClosed
	}
	if err == nil {
		c.conns[addr] = cc
		c.wg.Add(1)
		go cc.readLoop()
	}
	d.cc, d.err = cc, err
	c.mu.Unlock()
	close(d.done)
}

// startTLS wraps a fresh connection in TLS, checking the server's
// certificate for the host of addr unless cfg names another.
func startTLS(nc net.Conn, addr string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		return nc, fmt.Errorf("tls: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

func (c *Client) connect(addr string) (*clientConn, error) {
	dialer := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := dialer.DialContext(c.ctx, "tcp", addr)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, ErrClientClosed
		}
		return nil, &DialError{Addr: addr, Err: err}
	}
	stop := context.AfterFunc(c.ctx, func() { _ = nc.Close() })
	if c.cfg.TLS != nil {
		nc, err = startTLS(nc, addr, c.cfg.TLS, c.cfg.DialTimeout)
	}
	if err == nil {
		err = protocol.ClientHandshake(nc, c.cfg.Secret, c.cfg.DialTimeout)
		if c.cfg.TLS == nil && errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w (the server hung up: does it require TLS? give --tls-cert, --tls-key and --tls-ca)", err)
		}
	}
	if !stop() {
		err = ErrClientClosed
	}
	if err != nil {
		_ = nc.Close()
		if errors.Is(err, ErrClientClosed) {
			return nil, err
		}
		return nil, &DialError{Addr: addr, Err: err}
	}
	c.log.Debug("connected", zap.String("addr", addr))
	return &clientConn{
		client:  c,
		addr:    addr,
		nc:      nc,
		pending: make(map[uint64]*pendingCall),
		broken:  make(chan struct{}),
	}, nil
}

// errRetired ends a connection that left the pool stalled, once its last call is over.
var errRetired = errors.New("retired: its stream stalled and its calls are over")

// retire marks a connection that left the pool: it serves the calls it has, then closes.
func (cc *clientConn) retire() {
	cc.mu.Lock()
	cc.retired = true
	idle := len(cc.pending) == 0
	cc.mu.Unlock()
	if idle {
		cc.fail(errRetired)
	}
}

// closeIfRetiredLocked reports whether cc is retired and has no call left: the caller then
// fails it, with errRetired, once cc.mu is released.
func (cc *clientConn) closeIfRetiredLocked() bool {
	return cc.retired && len(cc.pending) == 0 && cc.err == nil
}

// forget drops cc from the pool so the next call redials.
func (c *Client) forget(cc *clientConn) {
	c.mu.Lock()
	if c.conns[cc.addr] == cc {
		delete(c.conns, cc.addr)
	}
	c.mu.Unlock()
}

// clientConn is one multiplexed connection; requests are matched to
// responses by Seq.
type clientConn struct {
	client *Client
	addr   string
	nc     net.Conn

	wmu sync.Mutex // serialises request frames

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]*pendingCall
	// awaiting is set while the read loop waits for the start of a frame;
	// only then may the read deadline be moved by callers.
	awaiting bool
	// suspectSince is when a call was first abandoned (its ctx ended)
	// since the last frame arrived; zero if none was.
	suspectSince time.Time
	// retired is set when the connection left the pool stalled: it closes once no call is
	// pending.
	retired bool
	err     error         // why the connection broke
	broken  chan struct{} // closed when err is set
}

type pendingCall struct {
	done     chan *protocol.Envelope // buffered: the read loop never blocks
	deadline time.Time
}

func (cc *clientConn) roundTrip(ctx context.Context, method string, body []byte) (*protocol.Envelope, error) {
	deadline, _ := ctx.Deadline() // Call made sure there is one
	pc := &pendingCall{done: make(chan *protocol.Envelope, 1), deadline: deadline}

	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return nil, cc.err
	}
	cc.seq++
	seq := cc.seq
	cc.pending[seq] = pc
	cc.rearmLocked()
	cc.mu.Unlock()

	b, err := protocol.EncodeEnvelope(&protocol.Envelope{Seq: seq, Kind: protocol.KindRequest, Method: method, Body: body})
	if err == nil && len(b) > cc.client.cfg.MaxFrame {
		err = fmt.Errorf("%w: request of %d bytes, limit is %d", protocol.ErrFrameTooLarge, len(b), cc.client.cfg.MaxFrame)
	}
	if err != nil {
		cc.remove(seq, false)
		return nil, fmt.Errorf("transport: %s %s: %w", cc.addr, method, err)
	}
	if err := cc.write(b); err != nil {
		cc.fail(err)
		return nil, fmt.Errorf("transport: %s %s: sending request: %w", cc.addr, method, err)
	}

	select {
	case env := <-pc.done:
		return env, nil
	case <-cc.broken:
		select {
		case env := <-pc.done: // answered just before the connection broke
			return env, nil
		default:
		}
		return nil, fmt.Errorf("%w (calling %s)", cc.err, method)
	case <-ctx.Done():
		cc.remove(seq, true)
		return nil, fmt.Errorf("transport: %s %s: %w", cc.addr, method, ctx.Err())
	}
}

func (cc *clientConn) write(b []byte) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	_ = cc.nc.SetWriteDeadline(time.Now().Add(cc.client.cfg.WriteTimeout))
	return protocol.WriteFrame(cc.nc, b)
}

// remove forgets a pending call; a late response to it will be discarded.
// abandoned marks the connection suspect: see rearmLocked.
func (cc *clientConn) remove(seq uint64, abandoned bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.pending[seq]; !ok {
		return
	}
	delete(cc.pending, seq)
	if abandoned && cc.suspectSince.IsZero() {
		cc.suspectSince = time.Now()
	}
	cc.rearmLocked()
	if cc.closeIfRetiredLocked() {
		go cc.fail(errRetired) // fail takes cc.mu
	}
}

// rearmLocked sets the read deadline for the wait for the next frame:
// none while nothing is at stake (an idle pooled connection may stay open),
// otherwise a grace period past the latest pending call's deadline, or past
// the first abandoned call when nothing else is pending.
func (cc *clientConn) rearmLocked() {
	if !cc.awaiting {
		return
	}
	var d time.Time
	for _, pc := range cc.pending {
		if pc.deadline.After(d) {
			d = pc.deadline
		}
	}
	if !d.IsZero() {
		d = d.Add(cc.client.deadPeerGrace)
	}
	if !cc.suspectSince.IsZero() {
		if s := cc.suspectSince.Add(cc.client.deadPeerGrace); s.After(d) {
			d = s
		}
	}
	_ = cc.nc.SetReadDeadline(d)
}

// deadLocked decides, after the wait for a frame timed out, whether the
// peer has stopped answering: no pending call can still be answered in
// time, and some call went unanswered.
func (cc *clientConn) deadLocked(now time.Time) bool {
	for _, pc := range cc.pending {
		if now.Before(pc.deadline.Add(cc.client.deadPeerGrace)) {
			return false
		}
	}
	if len(cc.pending) > 0 {
		return true
	}
	return !cc.suspectSince.IsZero() && !now.Before(cc.suspectSince.Add(cc.client.deadPeerGrace))
}

func (cc *clientConn) readLoop() {
	defer cc.client.wg.Done()
	br := bufio.NewReaderSize(cc.nc, readBufferSize)
	for {
		cc.mu.Lock()
		cc.awaiting = true
		cc.rearmLocked()
		cc.mu.Unlock()

		_, err := br.Peek(1)

		cc.mu.Lock()
		cc.awaiting = false
		if err != nil && isTimeout(err) && !cc.deadLocked(time.Now()) {
			cc.mu.Unlock()
			continue
		}
		cc.mu.Unlock()
		if err != nil {
			if isTimeout(err) {
				err = fmt.Errorf("peer stopped answering: %w", err)
			}
			cc.fail(err)
			return
		}

		_ = cc.nc.SetReadDeadline(time.Now().Add(frameReadTimeout))
		payload, err := protocol.ReadFrame(br, cc.client.cfg.MaxFrame)
		if err != nil {
			cc.fail(err)
			return
		}
		env, err := protocol.DecodeEnvelope(payload)
		if err == nil && env.Kind != protocol.KindResponse {
			err = fmt.Errorf("%w: server sent a request (seq %d)", protocol.ErrMalformed, env.Seq)
		}
		if err != nil {
			cc.client.log.Warn("bad frame from server; closing connection", zap.String("addr", cc.addr), zap.Error(err))
			cc.fail(err)
			return
		}

		cc.mu.Lock()
		pc := cc.pending[env.Seq]
		delete(cc.pending, env.Seq)
		cc.suspectSince = time.Time{}
		over := cc.closeIfRetiredLocked()
		cc.mu.Unlock()
		if pc != nil {
			pc.done <- env
		} else {
			cc.client.log.Debug("discarding response to an abandoned call", zap.String("addr", cc.addr), zap.Uint64("seq", env.Seq))
		}
		if over {
			cc.fail(errRetired)
			return
		}
	}
}

// fail breaks the connection: every pending call fails with an error that
// names the address, and the next call redials.
func (cc *clientConn) fail(cause error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	if errors.Is(cause, io.EOF) {
		cause = errors.New("closed by the peer")
	}
	cc.err = fmt.Errorf("transport: connection to %s lost: %w", cc.addr, cause)
	cc.pending = make(map[uint64]*pendingCall)
	cc.mu.Unlock()
	// Leave the pool before waking the callers, so a call they make next
	// redials instead of finding this connection.
	cc.client.forget(cc)
	close(cc.broken)
	_ = cc.nc.Close()
	if !errors.Is(cause, ErrClientClosed) && !errors.Is(cause, errRetired) {
		cc.client.log.Debug("connection lost", zap.String("addr", cc.addr), zap.Error(cause))
	}
}
