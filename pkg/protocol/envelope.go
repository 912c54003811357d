package protocol

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Envelope kinds. The zero value is deliberately not a kind, so an envelope
// that lost its kind is caught as malformed.
const (
	// KindRequest marks an envelope that asks the peer to run Method.
	KindRequest uint8 = 1
	// KindResponse marks the answer to the request with the same Seq.
	KindResponse uint8 = 2
)

// Envelope is the outer message of every frame after the handshake. It
// carries the request id (Seq) that lets many calls share one connection,
// and keeps the body opaque so it is decoded once, by whoever knows its type.
type Envelope struct {
	// Seq pairs a response with its request; the client picks it.
	Seq uint64 `msgpack:"s"`
	// Kind is KindRequest or KindResponse.
	Kind uint8 `msgpack:"k"`
	// Method names the operation, in requests only.
	Method string `msgpack:"m,omitempty"`
	// Code classifies an error response (see transport's Code constants);
	// empty for success and for errors without a code.
	Code string `msgpack:"c,omitempty"`
	// Error is the error message of a failed call; empty on success.
	Error string `msgpack:"e,omitempty"`
	// Body is the msgpack-encoded request or response value.
	Body msgpack.RawMessage `msgpack:"b,omitempty"`
}

// EncodeEnvelope encodes e for WriteFrame.
func EncodeEnvelope(e *Envelope) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("protocol: encoding nil envelope")
	}
	return Marshal(e)
}

// DecodeEnvelope decodes and validates a frame payload. Any input that is not
// a well-formed envelope, including an unknown Kind or a request without a
// method, gives an error wrapping ErrMalformed; it never panics.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	// Kind is decoded as uint64 first: msgpack would silently truncate 257
	// into a uint8 and turn it into a valid kind.
	var wire struct {
		Seq    uint64             `msgpack:"s"`
		Kind   uint64             `msgpack:"k"`
		Method string             `msgpack:"m,omitempty"`
		Code   string             `msgpack:"c,omitempty"`
		Error  string             `msgpack:"e,omitempty"`
		Body   msgpack.RawMessage `msgpack:"b,omitempty"`
	}
	if err := Unmarshal(b, &wire); err != nil {
		return nil, fmt.Errorf("decoding envelope: %w", err)
	}
	switch {
	case wire.Kind != uint64(KindRequest) && wire.Kind != uint64(KindResponse):
		return nil, fmt.Errorf("decoding envelope: %w: unknown kind %d", ErrMalformed, wire.Kind)
	case wire.Kind == uint64(KindRequest) && wire.Method == "":
		return nil, fmt.Errorf("decoding envelope: %w: request %d has no method", ErrMalformed, wire.Seq)
	}
	return &Envelope{
		Seq:    wire.Seq,
		Kind:   uint8(wire.Kind),
		Method: wire.Method,
		Code:   wire.Code,
		Error:  wire.Error,
		Body:   wire.Body,
	}, nil
}
