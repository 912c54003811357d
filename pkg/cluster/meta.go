package cluster

import (
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"
)

// Role says which daemon a member is, so others know what to ask it for.
type Role string

// The roles of the daemons that share the gossip cluster.
const (
	RoleMapLB    Role = "maplb"
	RoleReduceLB Role = "reducelb"
	RoleNode     Role = "node"
)

// State is what a member advertises about its willingness to take work.
type State string

// The states a member advertises. A member publishes StateDraining before a
// graceful leave, because memberlist cannot tell a leave from a crash.
const (
	StateAlive    State = "alive"
	StateDraining State = "draining"
)

// ErrMetaTooLarge is wrapped by New, SetMeta and SetState when the encoded
// metadata would not fit memberlist's limit (memberlist.MetaMaxSize bytes).
var ErrMetaTooLarge = errors.New("cluster: meta too large")

// Meta is what a member advertises in its memberlist metadata. It is encoded
// with msgpack under short keys because memberlist allows only
// memberlist.MetaMaxSize (512) bytes.
type Meta struct {
	Role  Role   `msgpack:"r,omitempty"`
	RPC   string `msgpack:"a,omitempty"` // host:port of the member's RPC server
	HTTP  string `msgpack:"h,omitempty"` // host:port of its health/metrics server
	Slots int    `msgpack:"s,omitempty"` // tasks a node runs at once
	State State  `msgpack:"t,omitempty"`
	Mode  string `msgpack:"m,omitempty"` // maplb only: "dlbp" or "single"
	// Boot identifies one run of the process: a member that restarts under
	// the same name (faster than gossip notices it left) has a new Boot,
	// and whatever it held in memory is gone.
	Boot string `msgpack:"b,omitempty"`
	// Exec says the node runs users' native programs (node --allow-exec).
	Exec bool `msgpack:"x,omitempty"`
	// DiskLow says the node's disk has less free space than its --min-free-disk: it takes no
	// new task until space returns.
	DiskLow bool `msgpack:"d,omitempty"`
}

// encodeMeta encodes m and checks that it fits the memberlist limit.
func encodeMeta(m Meta) ([]byte, error) {
	b, err := msgpack.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("cluster: encoding meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: meta encodes to %d bytes, limit is %d: %w",
			len(b), memberlist.MetaMaxSize, ErrMetaTooLarge)
	}
	return b, nil
}

// decodeMeta decodes a member's metadata. Unknown keys are ignored so that a
// newer member can add fields without older ones dropping it. The decoded
// strings are copies: nothing of b is kept.
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, errors.New("empty meta")
	}
	if err := msgpack.Unmarshal(b, &m); err != nil {
		return Meta{}, err
	}
	return m, nil
}
