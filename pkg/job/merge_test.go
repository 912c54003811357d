package job

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// records encodes "key=value" pairs as a record stream.
func records(t testing.TB, pairs ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := NewRecordWriter(&buf)
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		if err := w.Write([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// joinReducer writes `key:v1,v2,…` with the values in the order it got them.
type joinReducer struct{}

func (joinReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s:%s", key, bytes.Join(values, []byte(",")))
	return out.Write(key, b.Bytes())
}

func TestReducePartition(t *testing.T) {
	tests := []struct {
		name    string
		inputs  [][]string
		want    string
		wantErr string
	}{
		{"no inputs", nil, "", ""},
		{"empty inputs", [][]string{{}, {}}, "", ""},
		{"one input", [][]string{{"a=1", "b=2"}}, "a:1\nb:2\n", ""},
		{"groups across inputs", [][]string{{"a=1", "c=3"}, {"b=2", "c=4"}, {"a=5", "d=6"}},
			"a:1,5\nb:2\nc:3,4\nd:6\n", ""},
		{"empty key first", [][]string{{"=x", "a=1"}, {"=y"}}, ":x,y\na:1\n", ""},
		{"repeated key within an input", [][]string{{"a=1", "a=2"}, {"a=3"}}, "a:1,2,3\n", ""},
		{"byte order, not locale", [][]string{{"B=1", "a=2", "é=3"}, {"Z=4", "b=5"}}, "B:1\nZ:4\na:2\nb:5\né:3\n", ""},
		{"unsorted partial", [][]string{{"a=1"}, {"c=1", "b=2"}}, "", "partial 1 not sorted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inputs []io.Reader
			for _, in := range tt.inputs {
				inputs = append(inputs, records(t, in...))
			}
			var out bytes.Buffer
			err := ReducePartition(joinReducer{}, inputs, NewRecordWriter(&out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines bytes.Buffer
			if err := WriteLines(&out, &lines); err != nil {
				t.Fatal(err)
			}
			if lines.String() != tt.want {
				t.Errorf("output %q, want %q", lines.String(), tt.want)
			}
		})
	}
}

func TestReducePartitionCorruptInput(t *testing.T) {
	good := records(t, "a=1")
	bad := strings.NewReader("\x05ab")
	err := ReducePartition(joinReducer{}, []io.Reader{good, bad}, NewRecordWriter(io.Discard))
	if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), "partial 1") {
		t.Fatalf("error = %v, want a corrupt partial 1", err)
	}
}

func TestReducePartitionReducerError(t *testing.T) {
	boom := errors.New("boom")
	err := ReducePartition(failReducer{boom}, []io.Reader{records(t, "a=1")}, NewRecordWriter(io.Discard))
	if err != boom {
		t.Fatalf("error = %v, want %v", err, boom)
	}
}

type failReducer struct{ err error }

func (r failReducer) Reduce([]byte, [][]byte, *RecordWriter) error { return r.err }

func TestMergeOutput(t *testing.T) {
	tests := []struct {
		name    string
		inputs  [][]string
		want    string
		wantErr string
	}{
		{"nothing", nil, "", ""},
		{"interleaved", [][]string{{"a=A", "c=C"}, {"b=B", "d=D"}}, "A\nB\nC\nD\n", ""},
		{"ties by input index", [][]string{{"k=first", "k=second"}, {"k=third"}, {"j=zero", "k=fourth"}},
			"zero\nfirst\nsecond\nthird\nfourth\n", ""},
		{"empty values are empty lines", [][]string{{"a="}, {"b="}}, "\n\n", ""},
		{"unsorted part", [][]string{{"b=1", "a=2"}}, "", "part 0 not sorted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inputs []io.Reader
			for _, in := range tt.inputs {
				inputs = append(inputs, records(t, in...))
			}
			var out bytes.Buffer
			err := MergeOutput(inputs, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestWriteLinesCorrupt(t *testing.T) {
	err := WriteLines(strings.NewReader("\x01a\x09b"), io.Discard)
	if !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("error = %v, want ErrCorruptRecord", err)
	}
}
