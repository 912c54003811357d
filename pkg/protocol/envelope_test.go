package protocol

import (
	"errors"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	body, err := Marshal(map[string]string{"job": "wordcount"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*Envelope{
		{Seq: 1, Kind: KindRequest, Method: "maplb.submit", Body: body},
		{Seq: 1 << 40, Kind: KindResponse, Body: body},
		{Seq: 7, Kind: KindResponse, Code: "not_found", Error: `unknown job "x"`},
	} {
		b, err := EncodeEnvelope(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeEnvelope(b)
		if err != nil {
			t.Fatalf("DecodeEnvelope: %v", err)
		}
		if out.Seq != in.Seq || out.Kind != in.Kind || out.Method != in.Method || out.Code != in.Code || out.Error != in.Error || string(out.Body) != string(in.Body) {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
		var m map[string]string
		if len(out.Body) > 0 {
			if err := Unmarshal(out.Body, &m); err != nil || m["job"] != "wordcount" {
				t.Fatalf("body: %v %v", m, err)
			}
		}
	}
}

func TestDecodeEnvelopeRejectsGarbage(t *testing.T) {
	enc := func(v any) []byte {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := map[string][]byte{
		"empty":             nil,
		"not msgpack":       []byte("GET / HTTP/1.1\r\n"),
		"not a map":         enc(42),
		"unknown kind":      enc(map[string]any{"s": 1, "k": 9, "m": "x"}),
		"no kind":           enc(map[string]any{"s": 1, "m": "x"}),
		"kind overflows":    enc(map[string]any{"s": 1, "k": 257, "m": "x"}),
		"request no method": enc(map[string]any{"s": 1, "k": 1}),
		"seq wrong type":    enc(map[string]any{"s": "one", "k": 2}),
		"body truncated":    {0x83, 0xa1, 's', 0x01, 0xa1, 'k', 0x02, 0xa1, 'b', 0x92, 0x01},
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeEnvelope(input); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeEnvelope = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestEncodeEnvelopeNil(t *testing.T) {
	if _, err := EncodeEnvelope(nil); err == nil {
		t.Fatal("EncodeEnvelope(nil) succeeded")
	}
}
