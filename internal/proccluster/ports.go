package proccluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// portsMu serialises port picks inside one process, so two picks never return the same port.
var (
	portsMu sync.Mutex
	picked  = map[int]bool{}
)

// FreePort returns a loopback port that is free now for both TCP and UDP (a gossip address
// needs both), for a daemon that must keep its address across restarts.
//
// It binds the port and closes it again, like binding port 0, but picks the port below the
// kernel's ephemeral range when it can: a port from that range, once free, can be taken by any
// outgoing connection in the moment between a kill -9 and the restart, and the restarted daemon
// would then fail to bind it. A port is never handed out twice by one process.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	low := ephemeralLow()
	if lo := max(low-16000, 10000); low-lo >= 1000 {
		for range 200 {
			p := lo + rand.IntN(low-lo)
			if !picked[p] && bindable(p) {
				picked[p] = true
				return p, nil
			}
		}
	}
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("proccluster: picking a port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !picked[p] && bindable(p) {
			picked[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("proccluster: no port free for both TCP and UDP")
}

// bindable reports whether port p on 127.0.0.1 can be bound for TCP and UDP right now.
func bindable(p int) bool {
	addr := "127.0.0.1:" + strconv.Itoa(p)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux), or 32768.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 2048 {
		return 32768
	}
	return n
}
