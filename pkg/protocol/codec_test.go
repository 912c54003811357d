package protocol

import (
	"bytes"
	"errors"
	"testing"
)

type sample struct {
	Name  string            `msgpack:"n"`
	Count int64             `msgpack:"c"`
	Tags  []string          `msgpack:"t,omitempty"`
	Attrs map[string]string `msgpack:"a,omitempty"`
	Data  []byte            `msgpack:"d,omitempty"`
}

func TestMarshalRoundTrip(t *testing.T) {
	in := sample{Name: "wordcount", Count: -42, Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v"}, Data: []byte{0, 1, 2}}
	b, err := Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out sample
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Name != in.Name || out.Count != in.Count || len(out.Tags) != 2 || out.Attrs["k"] != "v" || !bytes.Equal(out.Data, in.Data) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 10000) // [[[[...]]]]
	deep = append(deep, 0xc0)
	tests := map[string][]byte{
		"empty":          nil,
		"invalid code":   {0xc1},
		"truncated str":  {0xa5, 'a', 'b'},
		"truncated bin":  {0xc6, 0xff, 0xff, 0xff, 0xff, 1},
		"huge array":     {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},
		"huge map":       {0xdf, 0xff, 0xff, 0xff, 0xff},
		"trailing bytes": {0xc0, 0xc0},
		"too deep":       deep,
		"wrong type":     {0x92, 0x01, 0x02}, // array into a struct with a string first
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			var out sample
			if err := Unmarshal(input, &out); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unmarshal = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestCheckWellFormedAcceptsAllTypes(t *testing.T) {
	v := map[string]any{
		"int":   []any{int64(1), int64(-1), int64(200), int64(-200), int64(70000), int64(-70000), int64(1 << 40), int64(-1 << 40)},
		"uint":  []any{uint64(255), uint64(65535), uint64(1 << 32), uint64(1 << 63)},
		"float": []any{float32(1.5), 2.5},
		"str":   []any{"", "short", string(bytes.Repeat([]byte("x"), 300)), string(bytes.Repeat([]byte("y"), 70000))},
		"bin":   []any{[]byte{}, bytes.Repeat([]byte{1}, 300), bytes.Repeat([]byte{2}, 70000)},
		"bool":  []any{true, false, nil},
		"big":   make([]any, 70000),
		"map":   map[string]int{"a": 1},
	}
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWellFormed(b); err != nil {
		t.Fatalf("checkWellFormed rejected valid msgpack: %v", err)
	}
	var out map[string]any
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	// Extension types (fixext and ext8/16/32).
	for _, ext := range [][]byte{
		{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...),
		{0xc7, 2, 1, 0, 0}, {0xc8, 0, 1, 1, 0}, {0xc9, 0, 0, 0, 1, 1, 0},
	} {
		if err := checkWellFormed(ext); err != nil {
			t.Errorf("checkWellFormed(% x) = %v", ext, err)
		}
	}
}
