package reference

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func files(t *testing.T, contents ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, c := range contents {
		p := filepath.Join(dir, string(rune('a'+i))+".txt")
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestWordCount(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"nothing", []string{""}, ""},
		{"hand counted", []string{"The cat; the CAT.\r\nthe", "cat's café 12ab\xffcd"},
			"CAT 1\nThe 1\nab 1\ncafé 1\ncat 2\ncd 1\ns 1\nthe 2\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := WordCount(files(t, tt.files...), &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, out.String(), tt.want)
		}
	}
}

func TestSum(t *testing.T) {
	tests := []struct {
		files   []string
		want    string
		wantErr string
	}{
		{[]string{""}, "0\n", ""},
		{[]string{" 1\n\n+2\r\n", "-10"}, "-7\n", ""},
		{[]string{"9223372036854775807\n9223372036854775807\n2\n"}, "18446744073709551616\n", ""},
		{[]string{"1\n", "2\nx1\n"}, "", `b.txt:2: not an integer: "x1"`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := Sum(files(t, tt.files...), &out)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Sum(%q) error = %v, want %q", tt.files, err, tt.wantErr)
			}
			continue
		}
		if err != nil || out.String() != tt.want {
			t.Errorf("Sum(%q) = %q, %v; want %q", tt.files, out.String(), err, tt.want)
		}
	}
}

func TestSumRange(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"1", "100", "5050\n"},
		{"-3", "2", "-3\n"},
		{"-4", "-4", "-4\n"},
		{"0", "0", "0\n"},
		{"1", "10000000000000000000000", "50000000000000000000005000000000000000000000\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := SumRange(tt.a, tt.b, &out); err != nil || out.String() != tt.want {
			t.Errorf("SumRange(%s, %s) = %q, %v; want %q", tt.a, tt.b, out.String(), err, tt.want)
		}
	}
	if err := SumRange("5", "1", &bytes.Buffer{}); err == nil {
		t.Error("SumRange(5, 1) succeeded")
	}
}

func TestIndexer(t *testing.T) {
	paths := files(t, "The cat; the CAT.\r\n", "cat\xffdog\n\nthe", "")
	var out bytes.Buffer
	if err := Indexer(append(paths, paths[0]), &out); err != nil {
		t.Fatal(err)
	}
	a, b := paths[0], paths[1]
	want := "CAT 1 " + a + "\nThe 1 " + a + "\ncat 2 " + a + "," + b + "\ndog 1 " + b + "\nthe 2 " + a + "," + b + "\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestGrep(t *testing.T) {
	paths := files(t, "one\ntwo\r\nthree", "nothing\n", "tw\xffo\n")
	tests := []struct{ pattern, want string }{
		{"^t", paths[0] + ":2:two\r\n" + paths[0] + ":3:three\n" + paths[2] + ":1:tw\xffo\n"},
		{"o$", paths[2] + ":1:tw\xffo\n"}, // not two\r: the '\r' is part of the line
		{"x", ""},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := Grep(tt.pattern, paths, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("Grep(%q) = %q, want %q", tt.pattern, out.String(), tt.want)
		}
	}
	if err := Grep("(", paths, &bytes.Buffer{}); err == nil {
		t.Error("Grep with a bad pattern succeeded")
	}
}

func TestSort(t *testing.T) {
	var out bytes.Buffer
	if err := Sort(files(t, "b\na\r\n\nB", "", "a\n\xff\nb\n"), &out); err != nil {
		t.Fatal(err)
	}
	if want := "\nB\na\na\r\nb\nb\n\xff\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
