package protocol

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	// Magic opens every client hello, so a server can tell a dlbp client from
	// a stray HTTP request or port scanner before anything else.
	Magic = "DLBP"

	// MaxHandshakeFrame bounds handshake frames, which are tiny: a peer that
	// has not yet authenticated cannot make us allocate more than this.
	MaxHandshakeFrame = 4 << 10

	// DefaultHandshakeTimeout is used when a handshake is given no timeout:
	// every read and write must have a deadline.
	DefaultHandshakeTimeout = 5 * time.Second

	// nonceSize is the size of each side's random challenge.
	nonceSize = 16

	// Proof labels keep a server proof from ever being valid as a client
	// proof (and the reverse), so a proof cannot be reflected back.
	serverProofLabel = "dlbp-server"
	clientProofLabel = "dlbp-client"
)

// Hello is the client's first message: who it is and its challenge.
type Hello struct {
	Magic   string          `msgpack:"m"`
	Version int             `msgpack:"v"`
	Nonce   [nonceSize]byte `msgpack:"n"`
}

// Welcome is the server's answer to Hello. With Error set the server refuses
// the connection and closes it; with Auth set it has a cluster secret, proves
// it knows the secret with Proof, and expects an Auth message back.
type Welcome struct {
	Version int             `msgpack:"v"`
	Nonce   [nonceSize]byte `msgpack:"n"`
	Auth    bool            `msgpack:"a,omitempty"`
	Proof   []byte          `msgpack:"p,omitempty"`
	Error   string          `msgpack:"e,omitempty"`
}

// Auth is the client's proof that it knows the cluster secret. An empty
// Proof means the client rejected the server's proof: it tells the server
// why the client is leaving without revealing a proof to a server that has
// not shown it knows the secret.
type Auth struct {
	Proof []byte `msgpack:"p,omitempty"`
}

// AuthResult is the server's verdict on Auth; Error is empty on success.
type AuthResult struct {
	Error string `msgpack:"e,omitempty"`
}

// ClientHandshake opens a connection as a client: it sends Hello, checks the
// server's version and, when either side has a secret, runs mutual
// authentication. A client with a secret refuses a server without one, so a
// misconfigured or impostor server cannot receive the cluster's data. The
// whole exchange must finish within timeout (DefaultHandshakeTimeout if
// zero); the connection's deadline is cleared afterwards. The caller closes
// conn on error.
func ClientHandshake(conn net.Conn, secret []byte, timeout time.Duration) error {
	defer clearDeadline(conn)
	if err := setDeadline(conn, timeout); err != nil {
		return err
	}

	hello := Hello{Magic: Magic, Version: Version}
	if _, err := rand.Read(hello.Nonce[:]); err != nil {
		return fmt.Errorf("handshake: generating nonce: %w", err)
	}
	if err := writeMessage(conn, &hello); err != nil {
		return fmt.Errorf("handshake: sending hello: %w", err)
	}
	var welcome Welcome
	if err := readMessage(conn, &welcome); err != nil {
		return fmt.Errorf("handshake: reading welcome: %w", err)
	}
	if welcome.Version != Version {
		msg := welcome.Error
		if msg == "" {
			msg = fmt.Sprintf("server speaks protocol version %d, this client speaks %d", welcome.Version, Version)
		}
		return fmt.Errorf("handshake: %w: %s", ErrVersion, msg)
	}
	if welcome.Error != "" {
		return fmt.Errorf("handshake: server refused the connection: %s", welcome.Error)
	}

	switch {
	case !welcome.Auth && len(secret) == 0:
		return nil
	case !welcome.Auth:
		return fmt.Errorf("handshake: %w: server does not authenticate; refusing (a cluster secret is configured)", ErrAuthFailed)
	case len(secret) == 0:
		return fmt.Errorf("handshake: %w: server requires a cluster secret (--secret-file)", ErrAuthFailed)
	}
	want := proof(secret, serverProofLabel, hello.Nonce[:], welcome.Nonce[:])
	if !hmac.Equal(welcome.Proof, want) {
		// Tell the server, best effort, without sending our own proof.
		_ = writeMessage(conn, &Auth{})
		return fmt.Errorf("handshake: %w: wrong cluster secret (the server's proof does not match)", ErrAuthFailed)
	}
	auth := Auth{Proof: proof(secret, clientProofLabel, welcome.Nonce[:], hello.Nonce[:])}
	if err := writeMessage(conn, &auth); err != nil {
		return fmt.Errorf("handshake: sending auth: %w", err)
	}
	var result AuthResult
	if err := readMessage(conn, &result); err != nil {
		return fmt.Errorf("handshake: reading auth result: %w", err)
	}
	if result.Error != "" {
		return fmt.Errorf("handshake: %w: server says: %s", ErrAuthFailed, result.Error)
	}
	return nil
}

// ServerHandshake answers a client's handshake. It refuses (with a Welcome
// that says why, then an error for the caller to log) a wrong magic or
// version, and with a secret it requires the client to prove it knows the
// same secret. The exchange must finish within timeout
// (DefaultHandshakeTimeout if zero); the deadline is cleared afterwards. The
// caller closes conn on error.
func ServerHandshake(conn net.Conn, secret []byte, timeout time.Duration) error {
	defer clearDeadline(conn)
	if err := setDeadline(conn, timeout); err != nil {
		return err
	}

	var hello Hello
	if err := readMessage(conn, &hello); err != nil {
		return fmt.Errorf("handshake: reading hello: %w", err)
	}
	if hello.Magic != Magic {
		_ = writeMessage(conn, &Welcome{Version: Version, Error: "not a dlbp client (bad magic)"})
		return fmt.Errorf("handshake: %w %q", ErrBadMagic, truncate(hello.Magic, 16))
	}
	if hello.Version != Version {
		msg := fmt.Sprintf("protocol version %d not supported (this daemon speaks %d)", hello.Version, Version)
		_ = writeMessage(conn, &Welcome{Version: Version, Error: msg})
		return fmt.Errorf("handshake: %w: %s", ErrVersion, msg)
	}

	welcome := Welcome{Version: Version, Auth: len(secret) > 0}
	if _, err := rand.Read(welcome.Nonce[:]); err != nil {
		return fmt.Errorf("handshake: generating nonce: %w", err)
	}
	if welcome.Auth {
		welcome.Proof = proof(secret, serverProofLabel, hello.Nonce[:], welcome.Nonce[:])
	}
	if err := writeMessage(conn, &welcome); err != nil {
		return fmt.Errorf("handshake: sending welcome: %w", err)
	}
	if !welcome.Auth {
		return nil
	}

	var auth Auth
	if err := readMessage(conn, &auth); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("handshake: %w: client did not authenticate (it has no cluster secret?)", ErrAuthFailed)
		}
		return fmt.Errorf("handshake: %w: client did not authenticate: %w", ErrAuthFailed, err)
	}
	if len(auth.Proof) == 0 {
		return fmt.Errorf("handshake: %w: wrong cluster secret (the client rejected our proof)", ErrAuthFailed)
	}
	if !hmac.Equal(auth.Proof, proof(secret, clientProofLabel, welcome.Nonce[:], hello.Nonce[:])) {
		_ = writeMessage(conn, &AuthResult{Error: "authentication failed: wrong cluster secret"})
		return fmt.Errorf("handshake: %w: wrong cluster secret (the client's proof does not match)", ErrAuthFailed)
	}
	if err := writeMessage(conn, &AuthResult{}); err != nil {
		return fmt.Errorf("handshake: sending auth result: %w", err)
	}
	return nil
}

// proof is HMAC-SHA256(secret, label | first | second).
func proof(secret []byte, label string, first, second []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(label))
	mac.Write(first)
	mac.Write(second)
	return mac.Sum(nil)
}

func writeMessage(conn net.Conn, v any) error {
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(conn, b)
}

func readMessage(conn net.Conn, v any) error {
	b, err := ReadFrame(conn, MaxHandshakeFrame)
	if err != nil {
		return err
	}
	return Unmarshal(b, v)
}

func setDeadline(conn net.Conn, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("handshake: setting deadline: %w", err)
	}
	return nil
}

// clearDeadline removes the handshake deadline; the connection's owner sets
// its own from now on. It can only fail on a connection that is already
// closed, which the owner's next read or write reports.
func clearDeadline(conn net.Conn) {
	_ = conn.SetDeadline(time.Time{})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
