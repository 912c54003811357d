// Package transport carries dlbp's request/response RPCs: one multiplexed
// TCP connection per peer, framed and encoded by pkg/protocol, opened by its
// handshake, with a deadline on every read and write.
//
// The server side mirrors net/http (Serve(l), Shutdown(ctx), Close()); the
// client side mirrors net/rpc (Call with request ids, many calls in flight
// on one connection).
package transport

import (
	"errors"
	"net"
	"time"
)

const (
	// frameReadTimeout bounds reading one frame once its first byte has
	// arrived, so a peer that stalls in the middle of a frame cannot hold a
	// goroutine and a buffer forever.
	frameReadTimeout = 30 * time.Second

	// readBufferSize is the per-connection read buffer; it lets the read
	// loops peek for the start of a frame without consuming it.
	readBufferSize = 16 << 10
)

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
