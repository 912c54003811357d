package main

import (
	"bytes"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"64KB", 64 << 10, true},
		{"4MB", 4 << 20, true},
		{"4mb", 4 << 20, true},
		{"2M", 2 << 20, true},
		{"1GB", 1 << 30, true},
		{"10B", 10, true},
		{"", 0, false},
		{"MB", 0, false},
		{"-1MB", 0, false},
		{"1.5MB", 0, false},
		{"4TB", 0, false},
		{"99999999999GB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-size", "3KB", "-seed", "2"}, &out); err != nil || out.Len() != 3<<10 {
		t.Fatalf("run: %v, %d bytes", err, out.Len())
	}
	out.Reset()
	if err := run([]string{"-ints", "5"}, &out); err != nil || bytes.Count(out.Bytes(), []byte("\n")) != 5 {
		t.Fatalf("run -ints 5: %v, %q", err, out.String())
	}
	if err := run([]string{"-size", "lots"}, &out); err == nil {
		t.Fatal("run -size lots succeeded")
	}
}
