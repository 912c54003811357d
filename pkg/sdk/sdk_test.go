package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// lines returns a Map that records every line it sees.
func lines(got *[]string) func([]byte, *Emitter) error {
	return func(line []byte, out *Emitter) error {
		*got = append(*got, string(line))
		return nil
	}
}

func TestMapLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a\tb\n\nlast", []string{"a\tb", "", "last"}},
		{"crlf\r\nx\r", []string{"crlf\r", "x\r"}},
		{"no tab at all\n\t\n", []string{"no tab at all", "\t"}},
		{"\xff\xfe\x00\n", []string{"\xff\xfe\x00"}},
	}
	for _, tt := range tests {
		var got []string
		if err := Run(Job{Map: lines(&got)}, "map", strings.NewReader(tt.in), io.Discard); err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("%q: Map saw %q, want %q", tt.in, got, tt.want)
		}
	}
}

// groups returns a Reduce that writes `key=[v1 v2 …]` (values quoted) per call.
func groups(key []byte, values *Values, out *Writer) error {
	var vs []string
	for values.Next() {
		vs = append(vs, fmt.Sprintf("%q", values.Value()))
	}
	_, err := fmt.Fprintf(out, "%q=%v\n", key, vs)
	return err
}

func TestReduceGrouping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\t1\na\t2\n", `"a"=["1" "2"]` + "\n"},
		// a line without a tab is a key with an empty value; values keep their tabs and '\r'
		{"a\t1\na\t2\nb\nc\t\nc\tx\ty\r\nd\t3",
			`"a"=["1" "2"]` + "\n" + `"b"=[""]` + "\n" + `"c"=["" "x\ty\r"]` + "\n" + `"d"=["3"]` + "\n"},
		{"\t\n\tv\n", `""=["" "v"]` + "\n"},                           // the empty key
		{"k\r\tv\nk\tw\n", `"k\r"=["v"]` + "\n" + `"k"=["w"]` + "\n"}, // '\r' is part of a key too (and sorts after it: checked below)
	}
	for _, tt := range tests[:4] {
		var out bytes.Buffer
		if err := Run(Job{Reduce: groups}, "reduce", strings.NewReader(tt.in), &out); err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if out.String() != tt.want {
			t.Errorf("%q: got\n%s\nwant\n%s", tt.in, out.String(), tt.want)
		}
	}
	// Unsorted input is an error in reduce, whose input dlbp sorts …
	err := Run(Job{Reduce: groups}, "reduce", strings.NewReader(tests[4].in), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not sorted") || !strings.Contains(err.Error(), "input line 2") {
		t.Errorf("unsorted reduce input: error %v", err)
	}
	// … but not in combine, where part of a key's values may be combined.
	var out bytes.Buffer
	combine := func(key []byte, values *Values, out *Emitter) error {
		for values.Next() {
			out.Emit(key, values.Value())
		}
		return nil
	}
	if err := Run(Job{Combine: combine}, "combine", strings.NewReader(tests[4].in), &out); err != nil {
		t.Fatal(err)
	}
	if want := "k\r\tv\nk\tw\n"; out.String() != want {
		t.Errorf("combine: got %q, want %q", out.String(), want)
	}
}

func TestValuesPartlyConsumed(t *testing.T) {
	in := "a\t1\na\t2\na\t3\nb\t1\nc\t1\nc\t2\nd\t1\nd\t2\n"
	for _, take := range []int{0, 1, 2, 5} {
		var out bytes.Buffer
		reduce := func(key []byte, values *Values, out *Writer) error {
			n := 0
			for n < take && values.Next() {
				n++
			}
			return out.LineString(fmt.Sprintf("%s %d", key, n))
		}
		if err := Run(Job{Reduce: reduce}, "reduce", strings.NewReader(in), &out); err != nil {
			t.Fatal(err)
		}
		m := func(n int) int { return min(n, take) }
		want := fmt.Sprintf("a %d\nb %d\nc %d\nd %d\n", m(3), m(1), m(2), m(2))
		if out.String() != want {
			t.Errorf("taking %d values: got %q, want %q", take, out.String(), want)
		}
	}
	// Next after the end stays false; Value is then empty.
	reduce := func(key []byte, values *Values, out *Writer) error {
		for values.Next() {
		}
		if values.Next() || values.Value() != nil {
			t.Error("Next after the last value")
		}
		return nil
	}
	if err := Run(Job{Reduce: reduce}, "reduce", strings.NewReader(in), io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestEmit(t *testing.T) {
	var out bytes.Buffer
	m := func(line []byte, out *Emitter) error {
		if err := out.Emit(line, []byte("v\twith tabs\r")); err != nil {
			return err
		}
		if err := out.EmitString("", ""); err != nil {
			return err
		}
		return out.EmitString(string(line)+"s", "")
	}
	if err := Run(Job{Map: m}, "map", strings.NewReader("k\n"), &out); err != nil {
		t.Fatal(err)
	}
	if want := "k\tv\twith tabs\r\n\t\nks\t\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestBadRecords(t *testing.T) {
	tests := []struct {
		name       string
		key, value string
		want       string
	}{
		{"tab in key", "a\tb", "v", `key "a\tb" contains a tab`},
		{"newline in key", "a\nb", "v", `key "a\nb" contains a newline`},
		{"newline in value", "a", "v\nw", `the value of key "a" contains a newline`},
	}
	for _, tt := range tests {
		for _, str := range []bool{false, true} {
			for _, ignore := range []bool{false, true} {
				var out bytes.Buffer
				m := func(line []byte, out *Emitter) error {
					out.EmitString("before", "")
					var err error
					if str {
						err = out.EmitString(tt.key, tt.value)
					} else {
						err = out.Emit([]byte(tt.key), []byte(tt.value))
					}
					if !errors.Is(err, ErrBadRecord) {
						t.Errorf("%s: Emit returned %v", tt.name, err)
					}
					if out.EmitString("after", "") != err {
						t.Errorf("%s: the error is not sticky", tt.name)
					}
					if ignore {
						return nil
					}
					return err
				}
				err := Run(Job{Map: m}, "map", strings.NewReader("x\n"), &out)
				if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "map: input line 1") {
					t.Errorf("%s (string %v, ignored %v): Run returned %v, want %q", tt.name, str, ignore, err, tt.want)
				}
				if out.String() != "before\t\n" {
					t.Errorf("%s: wrote %q", tt.name, out.String())
				}
			}
		}
	}
	// A reducer's line may not hold a newline either.
	reduce := func(key []byte, values *Values, out *Writer) error {
		return out.LineString("two\nlines")
	}
	err := Run(Job{Reduce: reduce}, "reduce", strings.NewReader("k\tv\n"), io.Discard)
	if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), `reduce: key "k" (from input line 1): output line "two\nlines" contains a newline`) {
		t.Errorf("Line with a newline: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	boom := errors.New("boom")
	failAt := func(n int) func([]byte, *Emitter) error {
		i := 0
		return func(line []byte, out *Emitter) error {
			if i++; i == n {
				return boom
			}
			return nil
		}
	}
	t.Setenv(EnvInputLine, "100")
	err := Run(Job{Map: failAt(3)}, "map", strings.NewReader("a\nb\nc\nd\n"), io.Discard)
	if !errors.Is(err, boom) || err.Error() != "map: input line 3 (line 102 of its document): boom" {
		t.Errorf("map error: %v", err)
	}
	reduce := func(key []byte, values *Values, out *Writer) error {
		if string(key) == "b" {
			for values.Next() {
			}
			return boom
		}
		return nil
	}
	err = Run(Job{Reduce: reduce}, "reduce", strings.NewReader("a\t1\nb\t1\nb\t2\nc\t1\n"), io.Discard)
	if !errors.Is(err, boom) || err.Error() != `reduce: key "b" (from input line 2): boom` {
		t.Errorf("reduce error: %v", err)
	}
	combine := func(key []byte, values *Values, out *Emitter) error { return boom }
	err = Run(Job{Combine: combine}, "combine", strings.NewReader("a\t1\n"), io.Discard)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), `combine: key "a"`) {
		t.Errorf("combine error: %v", err)
	}
	end := func(out *Emitter) error { return boom }
	err = Run(Job{Map: failAt(0), MapEnd: end}, "map", strings.NewReader(""), io.Discard)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "MapEnd") {
		t.Errorf("MapEnd error: %v", err)
	}
	rend := func(out *Writer) error { return boom }
	err = Run(Job{Reduce: reduce, ReduceEnd: rend}, "reduce", strings.NewReader(""), io.Discard)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "ReduceEnd") {
		t.Errorf("ReduceEnd error: %v", err)
	}
	for _, role := range []string{"map", "reduce", "combine", "Map", ""} {
		if err := Run(Job{}, role, strings.NewReader(""), io.Discard); err == nil {
			t.Errorf("role %q of an empty Job succeeded", role)
		}
	}
	// A read error, and a write error (also one the program ignores).
	err = Run(Job{Map: failAt(0)}, "map", io.MultiReader(strings.NewReader("a\n"), errReader{boom}), io.Discard)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "map: input line 2") {
		t.Errorf("read error: %v", err)
	}
	err = Run(Job{Reduce: groups}, "reduce", io.MultiReader(strings.NewReader("a\t1\n"), errReader{boom}), io.Discard)
	if !errors.Is(err, boom) {
		t.Errorf("read error in reduce: %v", err)
	}
	m := func(line []byte, out *Emitter) error {
		out.Emit(line, nil)
		return nil
	}
	err = Run(Job{Map: m}, "map", strings.NewReader("a\n"), errWriter{boom})
	if !errors.Is(err, boom) || err.Error() != "map: writing output: boom" {
		t.Errorf("write error at the end: %v", err)
	}
	err = Run(Job{Map: m}, "map", strings.NewReader(strings.Repeat("0123456789abcdef\n", 8192)), errWriter{boom})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "map: input line ") {
		t.Errorf("write error on the way: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestHooks(t *testing.T) {
	var calls []string
	m := func(line []byte, out *Emitter) error {
		calls = append(calls, "map "+string(line))
		return nil
	}
	end := func(out *Emitter) error {
		calls = append(calls, "end")
		return out.EmitString("total", "1")
	}
	var out bytes.Buffer
	for _, in := range []string{"", "a\nb"} {
		calls = nil
		out.Reset()
		if err := Run(Job{Map: m, MapEnd: end}, "map", strings.NewReader(in), &out); err != nil {
			t.Fatal(err)
		}
		want := "[map a map b end]"
		if in == "" {
			want = "[end]"
		}
		if fmt.Sprint(calls) != want || out.String() != "total\t1\n" {
			t.Errorf("input %q: calls %q, output %q; want %s", in, calls, out.String(), want)
		}
	}
	keys := 0
	reduce := func(key []byte, values *Values, out *Writer) error {
		keys++
		return nil
	}
	rend := func(out *Writer) error { return out.LineString(fmt.Sprint(keys, " keys")) }
	out.Reset()
	if err := Run(Job{Reduce: reduce, ReduceEnd: rend}, "reduce", strings.NewReader("a\t1\nb\t2\nb\t3\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2 keys\n" {
		t.Errorf("ReduceEnd wrote %q", out.String())
	}
}

func TestLineNumbers(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want string
	}{{"", "1 2 3"}, {"41", "41 42 43"}, {"junk", "1 2 3"}, {"0", "1 2 3"}} {
		t.Setenv(EnvInputLine, tt.env)
		var got []string
		m := func(line []byte, out *Emitter) error {
			got = append(got, fmt.Sprint(out.LineNumber()))
			return nil
		}
		end := func(out *Emitter) error {
			if out.LineNumber() != 0 {
				t.Errorf("LineNumber in MapEnd: %d", out.LineNumber())
			}
			return nil
		}
		if err := Run(Job{Map: m, MapEnd: end}, "map", strings.NewReader("a\n\nc"), io.Discard); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("DLBP_INPUT_LINE=%q: line numbers %v, want %s", tt.env, got, tt.want)
		}
	}
}

func TestEnv(t *testing.T) {
	for k, v := range map[string]string{
		EnvJob: "j-1", EnvTask: "7", EnvAttempt: "2", EnvReducers: "3", EnvInput: "books/a b.txt",
		EnvInputLine: "1001", EnvPartition: "2", "DLBP_PARAM_pattern": "a=b", "DLBP_PARAM_Empty": "",
	} {
		t.Setenv(k, v)
	}
	if JobID() != "j-1" || Task() != 7 || Attempt() != 2 || Reducers() != 3 || Input() != "books/a b.txt" ||
		InputLine() != 1001 || Partition() != 2 {
		t.Errorf("got job %q task %d attempt %d reducers %d input %q line %d partition %d",
			JobID(), Task(), Attempt(), Reducers(), Input(), InputLine(), Partition())
	}
	if v, ok := Param("pattern"); v != "a=b" || !ok {
		t.Errorf("Param(pattern) = %q, %v", v, ok)
	}
	if v, ok := Param("Empty"); v != "" || !ok {
		t.Errorf("Param(Empty) = %q, %v", v, ok)
	}
	if v, ok := Param("empty"); v != "" || ok { // names keep their case
		t.Errorf("Param(empty) = %q, %v", v, ok)
	}
	t.Setenv(EnvTask, "")
	t.Setenv(EnvPartition, "x")
	t.Setenv(EnvReducers, "-1")
	if Task() != 0 || Partition() != 0 || Reducers() != 0 {
		t.Errorf("unset or malformed: task %d partition %d reducers %d", Task(), Partition(), Reducers())
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	reduce := func(key []byte, values *Values, out *Writer) error {
		out.Line(key)
		out.LineString("s")
		fmt.Fprintf(out, "%s/%d", key, 1)
		out.Write([]byte(" raw\n"))
		return nil
	}
	if err := Run(Job{Reduce: reduce}, "reduce", strings.NewReader("k\tv\n"), &out); err != nil {
		t.Fatal(err)
	}
	if want := "k\ns\nk/1 raw\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestLargeOutput writes past the buffer with records of every size, through Emit, Line and
// Write, and checks every byte arrives in order.
func TestLargeOutput(t *testing.T) {
	var want bytes.Buffer
	sizes := []int{0, 1, 100, bufSize - 2, bufSize - 1, bufSize, bufSize + 1, 3 * bufSize, 7, 5}
	for _, n := range sizes {
		fmt.Fprintf(&want, "k%d\t%s\n", n, bytes.Repeat([]byte{'v'}, n))
	}
	m := func(line []byte, out *Emitter) error {
		for _, n := range sizes {
			if err := out.Emit([]byte(fmt.Sprintf("k%d", n)), bytes.Repeat([]byte{'v'}, n)); err != nil {
				return err
			}
		}
		return nil
	}
	var out bytes.Buffer
	if err := Run(Job{Map: m}, "map", strings.NewReader("x\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Errorf("map output differs (%d bytes, want %d)", out.Len(), want.Len())
	}
	want.Reset()
	for _, n := range sizes {
		fmt.Fprintf(&want, "%s\n%s", bytes.Repeat([]byte{'l'}, n), bytes.Repeat([]byte{'w'}, n))
	}
	reduce := func(key []byte, values *Values, out *Writer) error {
		for _, n := range sizes {
			if err := out.Line(bytes.Repeat([]byte{'l'}, n)); err != nil {
				return err
			}
			if _, err := out.Write(bytes.Repeat([]byte{'w'}, n)); err != nil {
				return err
			}
		}
		return nil
	}
	out.Reset()
	if err := Run(Job{Reduce: reduce}, "reduce", strings.NewReader("x\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Errorf("reduce output differs (%d bytes, want %d)", out.Len(), want.Len())
	}
}

// TestMaxLine: a line of MaxLine bytes (not counting its '\n') passes, in and out; a longer one
// is refused with ErrLineTooLong.
func TestMaxLine(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, MaxLine)
	big[MaxLine/2] = '\t'
	key, value := big[:MaxLine/2], big[MaxLine/2+1:]

	// map: read a MaxLine line, with and without '\n', and emit it back
	echo := func(line []byte, out *Emitter) error {
		k, v, _ := bytes.Cut(line, []byte{'\t'})
		return out.Emit(k, v)
	}
	for _, in := range [][]byte{append(big, '\n'), big, append(append([]byte("a\n"), big...), "\nb\n"...)} {
		var out bytes.Buffer
		if err := Run(Job{Map: echo}, "map", bytes.NewReader(in), &out); err != nil {
			t.Fatalf("a line of MaxLine bytes: %v", err)
		}
		want := append(bytes.TrimSuffix(in, []byte{'\n'}), '\n')
		want = bytes.ReplaceAll(want, []byte("a\n"), []byte("a\t\n"))
		want = bytes.ReplaceAll(want, []byte("\nb\n"), []byte("\nb\t\n"))
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("a line of MaxLine bytes came out as %d bytes, want %d", out.Len(), len(want))
		}
	}
	// reduce: the same line as a record, then a second value
	var got int
	reduce := func(k []byte, values *Values, out *Writer) error {
		for values.Next() {
			got += len(values.Value())
		}
		return out.Line(big)
	}
	in := append(append(append([]byte{}, big...), '\n'), key...)
	in = append(in, "\tv\n"...)
	var out bytes.Buffer
	if err := Run(Job{Reduce: reduce}, "reduce", bytes.NewReader(in), &out); err != nil {
		t.Fatalf("a record of MaxLine bytes: %v", err)
	}
	if got != len(value)+1 || out.Len() != MaxLine+1 {
		t.Errorf("reduce read %d value bytes (want %d) and wrote %d (want %d)", got, len(value)+1, out.Len(), MaxLine+1)
	}

	// one byte more: refused, reading (with and without '\n', in map and reduce) …
	long := append(append([]byte{}, big...), 'y')
	for _, role := range []string{"map", "reduce"} {
		for _, in := range [][]byte{append(long, '\n'), long, append(append([]byte("a\n"), long...), 'z')} {
			err := Run(Job{Map: echo, Reduce: reduce}, role, bytes.NewReader(in), io.Discard)
			if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), "longer than 16 MiB") {
				t.Errorf("%s of a line of %d bytes: %v", role, len(in), err)
			}
		}
	}
	// … and writing
	tooLong := []func(out *Emitter) error{
		func(out *Emitter) error { return out.Emit(long[:MaxLine/2], long[MaxLine/2+1:]) },
		func(out *Emitter) error { return out.EmitString(string(long[:MaxLine/2]), string(long[MaxLine/2+1:])) },
	}
	for i, emit := range tooLong {
		m := func(line []byte, out *Emitter) error { return emit(out) }
		err := Run(Job{Map: m}, "map", strings.NewReader("x\n"), io.Discard)
		if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), fmt.Sprintf("a record of %d bytes", MaxLine+1)) {
			t.Errorf("emit %d of a record of MaxLine+1 bytes: %v", i, err)
		}
	}
	long[MaxLine/2] = 'x'
	lineTooLong := func(key []byte, values *Values, out *Writer) error { return out.Line(long) }
	if err := Run(Job{Reduce: lineTooLong}, "reduce", strings.NewReader("k\n"), io.Discard); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Line of MaxLine+1 bytes: %v", err)
	}
}

// TestMain's exit statuses, run in a child process: this test binary, which calls Main when
// SDK_TEST_MAIN is set.
func TestMainExit(t *testing.T) {
	if role, ok := os.LookupEnv("SDK_TEST_MAIN"); ok {
		os.Args = append([]string{"/path/to/prog.wasm"}, strings.Fields(role)...)
		Main(Job{
			Map: func(line []byte, out *Emitter) error {
				if string(line) == "fail" {
					return errors.New("asked to fail")
				}
				return out.Emit(line, []byte(os.Args[len(os.Args)-1]))
			},
			Reduce: groups,
		})
		return
	}
	tests := []struct {
		args, stdin    string
		status         int
		stdout, stderr string
	}{
		{"map", "a\n", 0, "a\tmap\n", ""},
		{"map extra", "a\n", 0, "a\textra\n", ""},
		{"reduce", "a\t1\n", 0, `"a"=["1"]` + "\n", ""},
		{"map", "ok\nfail\n", 1, "ok\tmap\n", "prog.wasm: map: input line 2 (line 2 of its document): asked to fail\n"},
		{"", "", 2, "", "usage: prog.wasm map|reduce\n"},
		{"combine", "", 2, "", "usage: prog.wasm map|reduce\n"},
		{"help", "", 2, "", "usage: prog.wasm map|reduce\n"},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMainExit$")
		cmd.Env = append(os.Environ(), "SDK_TEST_MAIN="+tt.args)
		cmd.Stdin = strings.NewReader(tt.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		if e, ok := err.(*exec.ExitError); ok {
			status = e.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tt.status || stdout.String() != tt.stdout || !strings.HasPrefix(stderr.String(), tt.stderr) {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want %d, %q, %q…", tt.args, status, stdout.String(), stderr.String(),
				tt.status, tt.stdout, tt.stderr)
		}
	}
}
