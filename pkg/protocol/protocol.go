// Package protocol is the dlbp wire format: length-prefixed frames, the
// msgpack envelope that carries every request and response, and the
// handshake (version check and optional shared-secret mutual authentication)
// that opens every connection.
//
// The package does no networking of its own beyond reading and writing the
// net.Conn it is given; pkg/transport owns sockets, goroutines and deadlines.
package protocol

import "errors"

const (
	// Version is the protocol version this build speaks. Peers with a
	// different version are refused at the handshake, with a message that
	// names both versions, instead of failing later on a message they cannot
	// decode.
	Version = 1

	// DefaultMaxFrame bounds a frame's payload when the caller has no better
	// limit, so that a peer cannot make us allocate arbitrary memory.
	DefaultMaxFrame = 16 << 20

	// ChunkSize is the size bulk data (job input, map outputs, results) is
	// cut into, so that a chunk plus its envelope always fits well inside
	// DefaultMaxFrame and no message holds a whole job's data.
	ChunkSize = 1 << 20
	// InlineMax is the size up to which a reducer sends its part with its
	// report (ReduceDone), and InlineJobMax how much of a job's result the
	// load balancers keep that way: small results need no copy and no
	// reads from the nodes.
	InlineMax    = 64 << 10
	InlineJobMax = 256 << 10
)

var (
	// ErrFrameTooLarge is returned when a frame's length prefix exceeds the
	// reader's limit (or a payload exceeds what a length prefix can carry).
	// The oversized buffer is never allocated.
	ErrFrameTooLarge = errors.New("protocol: frame too large")

	// ErrEmptyFrame is returned for a zero length prefix: no valid message
	// encodes to zero bytes, so it can only be garbage.
	ErrEmptyFrame = errors.New("protocol: empty frame")

	// ErrMalformed is returned when bytes are not a valid message: bad
	// msgpack, too deeply nested, trailing bytes, or invalid field values.
	ErrMalformed = errors.New("protocol: malformed message")

	// ErrAuthFailed is returned by both sides of a handshake when shared-secret
	// authentication fails: wrong secret, or only one side has a secret.
	ErrAuthFailed = errors.New("protocol: authentication failed")

	// ErrVersion is returned when the peers speak different protocol versions.
	ErrVersion = errors.New("protocol: version mismatch")

	// ErrBadMagic is returned by the server when the peer's hello does not
	// start with Magic: it is not a dlbp client.
	ErrBadMagic = errors.New("protocol: bad magic")
)
