package protocol

import (
	"bytes"
	"testing"
)

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'x'})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 5, 'a'})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			p, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			if len(p) == 0 || len(p) > 1<<16 {
				t.Fatalf("ReadFrame returned %d bytes without error", len(p))
			}
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, e := range []*Envelope{
		{Seq: 1, Kind: KindRequest, Method: "node.ping", Body: []byte{0xc0}},
		{Seq: 2, Kind: KindResponse, Code: "busy", Error: "try later"},
		{Seq: 3, Kind: KindResponse, Body: []byte{0x92, 0x01, 0xa1, 'x'}},
	} {
		b, err := EncodeEnvelope(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x91, 0x91, 0x91, 0xc0})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		if e.Kind != KindRequest && e.Kind != KindResponse {
			t.Fatalf("accepted kind %d", e.Kind)
		}
		// Whatever decodes must encode and decode again to the same thing.
		b, err := EncodeEnvelope(e)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", e, err)
		}
		e2, err := DecodeEnvelope(b)
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", e, err)
		}
		if e2.Seq != e.Seq || e2.Kind != e.Kind || e2.Method != e.Method || !bytes.Equal(e2.Body, e.Body) {
			t.Fatalf("re-decoded %+v, want %+v", e2, e)
		}
	})
}
