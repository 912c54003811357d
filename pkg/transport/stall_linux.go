//go:build linux

package transport

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// retransmitting reports whether the kernel is retransmitting on nc's TCP stream: data sent has
// gone unacknowledged past a retransmission timeout, or probes go unanswered. That is a cut
// link or a peer gone, and new data would queue behind the unacknowledged until the next
// retransmission, which backs off exponentially: seconds after the link is back.
func retransmitting(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var stalled bool
	_ = raw.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		stalled = err == nil && (info.Retransmits > 0 || info.Probes > 0)
	})
	return stalled
}
