package job

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		records [][2]string
	}{
		{"none", nil},
		{"empty key and value", [][2]string{{"", ""}}},
		{"several", [][2]string{{"a", "1"}, {"b", ""}, {"", "x"}, {"naïve", "日本"}}},
		{"longer than the buffer", [][2]string{{strings.Repeat("k", 200<<10), strings.Repeat("v", 300<<10)}, {"z", "1"}}},
		{"long length prefix", [][2]string{{strings.Repeat("k", 1<<14), strings.Repeat("v", 1<<21)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewRecordWriter(&buf)
			for _, r := range tt.records {
				if err := w.Write([]byte(r[0]), []byte(r[1])); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if w.Count() != int64(len(tt.records)) || w.Bytes() != int64(buf.Len()) {
				t.Errorf("Count, Bytes = %d, %d; want %d, %d", w.Count(), w.Bytes(), len(tt.records), buf.Len())
			}
			r := NewRecordReader(&buf)
			for i, want := range tt.records {
				k, v, err := r.Next()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if string(k) != want[0] || string(v) != want[1] {
					t.Fatalf("record %d = %.20q, %.20q; want %.20q, %.20q", i, k, v, want[0], want[1])
				}
			}
			for range 2 {
				if _, _, err := r.Next(); err != io.EOF {
					t.Fatalf("after the last record: %v, want io.EOF", err)
				}
			}
		})
	}
}

func TestRecordReaderCorrupt(t *testing.T) {
	var good bytes.Buffer
	w := NewRecordWriter(&good)
	w.Write([]byte("key"), []byte("value"))
	w.Flush()
	whole := good.Bytes() // 0x03 k e y 0x05 v a l u e
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"cut in key", whole[:2], "truncated"},
		{"cut before value length", whole[:4], "truncated"},
		{"cut in value", whole[:len(whole)-1], "truncated"},
		{"cut in length prefix", []byte{0x80}, "truncated"},
		{"oversized length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, "exceeds the maximum"},
		{"overflowing prefix", bytes.Repeat([]byte{0x80}, 20), "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewRecordReader(bytes.NewReader(tt.data)).Next()
			if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Next() error = %v, want ErrCorruptRecord mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRecordReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := NewRecordReader(io.MultiReader(strings.NewReader("\x03ke"), errReader{boom})).Next()
	if !errors.Is(err, boom) || errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Next() error = %v, want the reader's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func FuzzRecordReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 'k', 'e', 'y', 1, 'v'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewRecordReader(bytes.NewReader(data))
		var re bytes.Buffer
		w := NewRecordWriter(&re)
		for {
			k, v, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorruptRecord) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			w.Write(k, v)
		}
		w.Flush()
		// A stream read to a clean EOF must re-encode to itself, up to non-minimal prefixes.
		if re.Len() > len(data) {
			t.Fatalf("re-encoded %d bytes from %d", re.Len(), len(data))
		}
	})
}

func TestHashPartition(t *testing.T) {
	// The values are part of the wire contract: they must never change.
	tests := []struct {
		key  string
		r    int
		want int
	}{
		{"", 1, 0},
		{"", 7, int(2166136261 % 7)},
		{"a", 1000, int(0xe40c292c % 1000)},
		{"the", 3, int(0xb40eb21c % 3)},
		{"Holmes", 10, int(0x18024f63 % 10)},
		{"日本", 12, int(0x9f26ee51 % 12)},
		{"anything", 0, 0},
	}
	for _, tt := range tests {
		if got := HashPartition([]byte(tt.key), tt.r); got != tt.want {
			t.Errorf("HashPartition(%q, %d) = %d, want %d", tt.key, tt.r, got, tt.want)
		}
		if got := hashPartitionString(tt.key, tt.r); got != tt.want {
			t.Errorf("hashPartitionString(%q, %d) = %d, want %d", tt.key, tt.r, got, tt.want)
		}
	}
	for _, key := range []string{"x", "wordcount", "Straße", strings.Repeat("ab", 100)} {
		h := fnv.New32a()
		h.Write([]byte(key))
		if got, want := HashPartition([]byte(key), 1<<30), int(h.Sum32()%(1<<30)); got != want {
			t.Errorf("HashPartition(%q) = %d, hash/fnv says %d", key, got, want)
		}
	}
}

// TestRecordValueSameAsKey: a value equal to its key (sort's output) is stored once, and reads
// back as itself; short keys, different values and empty values keep the plain form.
func TestRecordValueSameAsKey(t *testing.T) {
	recs := [][2]string{
		{"a line of text", "a line of text"},
		{"abcd", "abcd"}, // 4 bytes: the marker would not save anything
		{"abcde", "abcde"},
		{"key", "value"},
		{"hello world", "hello worlD"},
		{"", ""},
		{"longer key", ""},
		{strings.Repeat("x", 300), strings.Repeat("x", 300)},
	}
	var buf bytes.Buffer
	w := NewRecordWriter(&buf)
	plain := 0
	for _, r := range recs {
		if err := w.Write([]byte(r[0]), []byte(r[1])); err != nil {
			t.Fatal(err)
		}
		plain += len(binary.AppendUvarint(nil, uint64(len(r[0])))) + len(r[0]) + len(binary.AppendUvarint(nil, uint64(len(r[1])))) + len(r[1])
	}
	w.Flush()
	if w.Bytes() != int64(buf.Len()) {
		t.Fatalf("writer counted %d bytes, wrote %d", w.Bytes(), buf.Len())
	}
	saved := plain - buf.Len()
	if want := (14 + 1 - 5) + (5 + 1 - 5) + (300 + 2 - 5); saved != want {
		t.Fatalf("saved %d bytes, want %d", saved, want)
	}
	r := NewRecordReader(&buf)
	for i, want := range recs {
		k, v, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(k) != want[0] || string(v) != want[1] {
			t.Fatalf("record %d: %q %q, want %q %q", i, k, v, want[0], want[1])
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want EOF", err)
	}
	// The marker is a value length only: as a key length it is corrupt.
	bad := binary.AppendUvarint(nil, sameAsKey)
	if _, _, err := NewRecordReader(bytes.NewReader(bad)).Next(); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("marker as a key length: %v, want ErrCorruptRecord", err)
	}
}
