package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// lbCutFor is how long a load balancer found out of reach is called through nodes before it
// is tried directly again.
const lbCutFor = 30 * time.Second

// relayTries is how many nodes a relayed call tries.
const relayTries = 2

// CallLB calls the other load balancer at addr, each try bounded by timeout. When the direct
// call cannot reach it (no answer, no connection: a link cut between the two load balancers
// while both still reach the nodes), the call goes through a node that can (relay.call), and
// for lbCutFor the calls to addr go through nodes first. An answer of the load balancer, even
// an error, ends the call. Relayed methods must be idempotent: a relay may deliver a call
// whose answer was lost.
func (b *Base) CallLB(ctx context.Context, timeout time.Duration, addr, method string, req, resp any) error {
	call := func(to, m string, rq, rs any) error {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return b.Client.Call(c, to, m, rq, rs)
	}
	cut := b.lbCut(addr)
	var errs []error
	if !cut {
		err := call(addr, method, req, resp)
		if err == nil || !unreachable(ctx, err) {
			return err
		}
		b.markLBCut(addr, true)
		errs = append(errs, err)
	}
	body, err := protocol.Marshal(req)
	if err != nil {
		return err
	}
	nodes := b.Members(cluster.RoleNode)
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	for _, n := range nodes[:min(len(nodes), relayTries)] {
		var raw msgpack.RawMessage
		err := call(n.Meta.RPC, protocol.MethodRelay, &protocol.Relay{To: addr, Method: method, Body: body}, &raw)
		if err == nil {
			b.Log.Debug("message relayed through a node", zap.String("to", addr), zap.String("method", method), zap.String("node", n.Name))
			if resp != nil {
				return protocol.Unmarshal(raw, resp)
			}
			return nil
		}
		if c := transport.CodeOf(err); c != "" && c != transport.CodeUnavailable {
			return err // the load balancer's own answer, passed on
		}
		errs = append(errs, fmt.Errorf("through node %s: %w", n.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	if cut && ctx.Err() == nil {
		// No node could pass it on: perhaps the link is back.
		err := call(addr, method, req, resp)
		if err == nil || !unreachable(ctx, err) {
			b.markLBCut(addr, false)
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// unreachable reports whether a call failed on the way (no answer, no connection), not by an
// answer of the peer, while the caller's ctx still runs.
func unreachable(ctx context.Context, err error) bool {
	var re *transport.RemoteError
	return ctx.Err() == nil && !errors.As(err, &re)
}

func (b *Base) lbCut(addr string) bool {
	b.cutMu.Lock()
	defer b.cutMu.Unlock()
	at, ok := b.cutLBs[addr]
	return ok && time.Since(at) < lbCutFor
}

func (b *Base) markLBCut(addr string, cut bool) {
	b.cutMu.Lock()
	defer b.cutMu.Unlock()
	if !cut {
		delete(b.cutLBs, addr)
		return
	}
	if b.cutLBs == nil {
		b.cutLBs = map[string]time.Time{}
	}
	if _, known := b.cutLBs[addr]; !known {
		b.Log.Warn("cannot reach the other load balancer directly: its messages go through nodes", zap.String("to", addr))
	}
	b.cutLBs[addr] = time.Now()
}

// ServeRelay passes a message on to a load balancer for another (see protocol.Relay): only the
// relayed methods, only to load balancers this daemon knows by gossip.
func (b *Base) ServeRelay(ctx context.Context, r *protocol.Relay) (*msgpack.RawMessage, error) {
	if !protocol.RelayedMethods[r.Method] {
		return nil, transport.Errorf(transport.CodeBadRequest, "%q is not a message nodes relay", r.Method)
	}
	known := false
	for _, role := range []cluster.Role{cluster.RoleMapLB, cluster.RoleReduceLB} {
		for _, m := range b.Members(role) {
			known = known || m.Meta.RPC == r.To
		}
	}
	if !known {
		// Perhaps one that just (re)started and that gossip has not told of yet: the sender
		// tries again, or another node.
		return nil, transport.Errorf(transport.CodeUnavailable, "%s is not a load balancer %s knows", r.To, b.Opts.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out msgpack.RawMessage
	err := b.Client.Call(ctx, r.To, r.Method, msgpack.RawMessage(r.Body), &out)
	var re *transport.RemoteError
	switch {
	case errors.As(err, &re):
		return nil, transport.Errorf(re.Code, "%s", re.Msg)
	case err != nil:
		return nil, transport.Errorf(transport.CodeUnavailable, "%s cannot reach %s either: %v", b.Opts.Name, r.To, err)
	}
	return &out, nil
}
