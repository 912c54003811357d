package job

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestForEachLine(t *testing.T) {
	long := strings.Repeat("x", 300<<10) // longer than the reader's buffer
	tests := []struct {
		name  string
		input string
		first int64
		want  []string
	}{
		{"empty", "", 1, nil},
		{"one line", "a\n", 1, []string{"a"}},
		{"no final newline", "a\nb", 1, []string{"a", "b"}},
		{"blank lines", "\n\na\n\n", 1, []string{"", "", "a", ""}},
		{"CRLF keeps the CR", "a\r\nb\r\n", 1, []string{"a\r", "b\r"}},
		{"lone CR is not a break", "a\rb\n", 1, []string{"a\rb"}},
		{"numbered from firstLine", "x\ny\n", 41, []string{"x", "y"}},
		{"long lines", long + "\nshort\n" + long + long, 1, []string{long, "short", long + long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.input)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				var got []string
				next := tt.first
				err := ForEachLine(r, tt.first, func(n int64, line []byte) error {
					if n != next {
						t.Errorf("line number %d, want %d", n, next)
					}
					next++
					got = append(got, string(line))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("oneByte=%v: lines = %.60q, want %.60q", oneByte, got, tt.want)
				}
			}
		})
	}
}

func TestForEachLineStops(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := ForEachLine(strings.NewReader("a\nb\nc\n"), 1, func(n int64, line []byte) error {
		calls++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("err, calls = %v, %d; want stop, 2", err, calls)
	}
	boom := errors.New("boom")
	if err := ForEachLine(iotest.ErrReader(boom), 1, func(int64, []byte) error { return nil }); err != boom {
		t.Fatalf("read error = %v, want %v", err, boom)
	}
}
