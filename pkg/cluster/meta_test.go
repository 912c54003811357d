package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{Role: RoleMapLB, RPC: "10.0.0.1:7070", HTTP: "10.0.0.1:8080", Slots: 8, State: StateDraining, Mode: "single"}
	b, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Fatalf("decoded %+v; want %+v", got, m)
	}
	// Short keys keep a typical meta far below the 512-byte limit.
	if len(b) > 80 {
		t.Errorf("meta encodes to %d bytes; want short keys", len(b))
	}
}

func TestMetaDecodeErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {0xc1}, []byte("not msgpack")} {
		if _, err := decodeMeta(b); err == nil {
			t.Errorf("decodeMeta(%q) succeeded", b)
		}
	}
}

func TestMetaTooLarge(t *testing.T) {
	_, err := encodeMeta(Meta{RPC: strings.Repeat("x", memberlist.MetaMaxSize)})
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("err = %v; want ErrMetaTooLarge", err)
	}
}

func TestEventTypeString(t *testing.T) {
	for typ, want := range map[EventType]string{EventJoin: "join", EventLeave: "leave", EventUpdate: "update", 7: "EventType(7)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int(typ), got, want)
		}
	}
}
