package cluster

import (
	"fmt"
	"sync"
)

// EventType says how membership changed.
type EventType int

// The membership changes a Cluster reports. EventLeave covers both a crash
// and a graceful leave: memberlist cannot tell them apart, so callers treat
// every leave as a failure (a graceful leaver publishes StateDraining first).
const (
	EventJoin EventType = iota
	EventLeave
	EventUpdate
)

// String returns "join", "leave" or "update", for logs.
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventUpdate:
		return "update"
	default:
		return fmt.Sprintf("EventType(%d)", int(t))
	}
}

// Event is one membership change of another member. Member holds the
// member's metadata after the change (for a leave, the last metadata known).
type Event struct {
	Type   EventType
	Member Member
}

// eventQueue hands events from memberlist's delegate, which must never
// block (it runs under memberlist's node lock), to a reader that may be slow.
// It is unbounded and keeps order.
type eventQueue struct {
	mu    sync.Mutex
	items []Event
	ready chan struct{} // capacity 1: "items is not empty"
	out   chan Event
}

func newEventQueue() *eventQueue {
	return &eventQueue{
		ready: make(chan struct{}, 1),
		out:   make(chan Event),
	}
}

// push appends e without blocking.
func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop removes the oldest event, if any.
func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return Event{}, false
	}
	e := q.items[0]
	q.items[0] = Event{}
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return e, true
}

// run delivers events to out in order until stop is closed, then closes
// out. Events still queued at that point are dropped.
func (q *eventQueue) run(stop <-chan struct{}) {
	defer close(q.out)
	for {
		e, ok := q.pop()
		if !ok {
			select {
			case <-q.ready:
				continue
			case <-stop:
				return
			}
		}
		select {
		case q.out <- e:
		case <-stop:
			return
		}
	}
}
