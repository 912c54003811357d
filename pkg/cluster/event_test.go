package cluster

import (
	"strconv"
	"testing"
	"time"
)

func TestEventQueueKeepsOrderWithoutBlocking(t *testing.T) {
	q := newEventQueue()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(stop)
	}()

	// Nobody reads yet: push must not block, however many events.
	const n = 1000
	for i := range n {
		q.push(Event{Type: EventUpdate, Member: Member{Name: strconv.Itoa(i)}})
	}
	for i := range n {
		select {
		case e := <-q.out:
			if e.Member.Name != strconv.Itoa(i) {
				t.Fatalf("event %d is for %q; want in order", i, e.Member.Name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not delivered", i)
		}
	}

	q.push(Event{}) // dropped by stop if not read
	close(stop)
	<-done
	for range q.out { // drains at most the one event, then sees the close
	}
}
