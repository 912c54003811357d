package job

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

// sumOf runs one sum mapper over the documents (one task each) and a reducer over its partial.
func sumOf(t *testing.T, docs ...string) (string, error) {
	t.Helper()
	spec := &Spec{Job: "sum", Reducers: 1}
	for i := range docs {
		spec.Docs = append(spec.Docs, "doc"+itoa(int64(i)))
	}
	m, _ := sumJob{}.NewMapper(spec, MapEnv{})
	for i, d := range docs {
		if err := m.Map(Task{Doc: i, Length: int64(len(d)), FirstLine: 1}, strings.NewReader(d)); err != nil {
			return "", err
		}
	}
	return finishAndReduce(t, spec, m)
}

func finishAndReduce(t *testing.T, spec *Spec, m Mapper) (string, error) {
	t.Helper()
	var partial, out, lines bytes.Buffer
	if err := m.Finish([]*RecordWriter{NewRecordWriter(&partial)}); err != nil {
		t.Fatal(err)
	}
	red, _ := sumJob{}.NewReducer(spec)
	if err := ReducePartition(red, []io.Reader{&partial}, NewRecordWriter(&out)); err != nil {
		t.Fatal(err)
	}
	if err := WriteLines(&out, &lines); err != nil {
		t.Fatal(err)
	}
	return lines.String(), nil
}

func TestSumParsing(t *testing.T) {
	big63 := new(big.Int).Lsh(big.NewInt(1), 63)
	tests := []struct {
		name string
		docs []string
		want string
	}{
		{"empty", []string{""}, "0\n"},
		{"blank lines only", []string{"\n  \n\t\n"}, "0\n"},
		{"signs and spaces", []string{"1\n+2\n -3 \n\t4\t\n"}, "4\n"},
		{"CRLF", []string{"10\r\n20\r\n"}, "30\n"},
		{"no final newline", []string{"1\n2"}, "3\n"},
		{"leading zeros", []string{"007\n-0\n+000\n"}, "7\n"},
		{"negative total", []string{"-5\n"}, "-5\n"},
		{"int64 limits", []string{"9223372036854775807\n-9223372036854775808\n"}, "-1\n"},
		{"passes 2^63", []string{"9223372036854775807\n1\n"}, big63.String() + "\n"},
		{"passes -2^63 repeatedly", []string{strings.Repeat("-9000000000000000000\n", 5)}, "-45000000000000000000\n"},
		{"beyond int64", []string{"123456789012345678901234567890\n-123456789012345678901234567891\n"}, "-1\n"},
		{"19 digits with zeros", []string{"0000000000000000000001\n"}, "1\n"},
		{"several documents", []string{"1\n", "", "2\n3"}, "6\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sumOf(t, tt.docs...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("sum = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSumBadRecords(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{"1\n12x\n", `doc0:2: not an integer: "12x"`},
		{"abc", `doc0:1: not an integer: "abc"`},
		{"\n\n+\n", `doc0:3: not an integer: "+"`},
		{"1 2\n", `doc0:1: not an integer: "1 2"`},
		{"--1\n", `doc0:1: not an integer: "--1"`},
		{"1_000\n", `doc0:1: not an integer: "1_000"`},
		{"0x10\n", `doc0:1: not an integer: "0x10"`},
		{"1.5\n", `doc0:1: not an integer: "1.5"`},
		{"١٢\n", `doc0:1: not an integer: "١٢"`},
		{" 12x \r\n", `doc0:1: not an integer: " 12x \r"`},
	}
	for _, tt := range tests {
		_, err := sumOf(t, tt.doc)
		var re *RecordError
		if !errors.As(err, &re) || err.Error() != tt.want {
			t.Errorf("sum(%q) error = %v, want RecordError %s", tt.doc, err, tt.want)
		}
	}
}

// TestSumBadRecordLineNumber checks that a later split numbers lines from its FirstLine.
func TestSumBadRecordLineNumber(t *testing.T) {
	spec := &Spec{Job: "sum", Reducers: 1, Docs: []string{"a.txt", "data/b.txt"}}
	m, _ := sumJob{}.NewMapper(spec, MapEnv{})
	err := m.Map(Task{Doc: 1, Offset: 100, Length: 6, FirstLine: 41}, strings.NewReader("1\n2\nz\n"))
	if err == nil || err.Error() != `data/b.txt:43: not an integer: "z"` {
		t.Fatalf("error = %v", err)
	}
}

func TestSumGenerateTasksMinimum(t *testing.T) {
	for _, tt := range []struct {
		rng   string
		n     int
		tasks int
	}{
		{"1..1000", 8, 1},
		{"1..3145727", 8, 2},   // 3·2^20 - 1 numbers: two tasks of 2^20 or more
		{"1..100000000", 4, 4}, // big enough for every task asked
		{"-100000000000000000000..100000000000000000000", 16, 16},
	} {
		spec := &Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": tt.rng}}
		tasks, err := sumJob{}.GenerateTasks(spec, tt.n)
		if err != nil || len(tasks) != tt.tasks {
			t.Errorf("%s n=%d: %d tasks (%v), want %d", tt.rng, tt.n, len(tasks), err, tt.tasks)
		}
	}
}

func TestSumGenerateTasks(t *testing.T) {
	tests := []struct {
		rng   string
		n     int
		tasks int
	}{
		{"1..10", 3, 3},
		{"1..10", 10, 10},
		{"1..10", 100, 10},
		{"5..5", 4, 1},
		{"-7..3", 0, 1},
		{"-1000000000000000000000..1000000000000000000000", 7, 7},
		{"99999999999999999999999999..100000000000000000000000001", 2, 2},
	}
	defer func(m int64) { minRangeTask = m }(minRangeTask)
	minRangeTask = 1 // split as finely as asked
	for _, tt := range tests {
		spec := &Spec{Job: "sum", Reducers: 1, Params: map[string]string{"range": tt.rng}}
		tasks, err := sumJob{}.GenerateTasks(spec, tt.n)
		if err != nil {
			t.Fatalf("%s: %v", tt.rng, err)
		}
		if len(tasks) != tt.tasks {
			t.Errorf("%s n=%d: %d tasks, want %d", tt.rng, tt.n, len(tasks), tt.tasks)
		}
		lo, hi, _ := parseRange(tt.rng)
		next := lo
		var minSize, maxSize *big.Int
		for i, task := range tasks {
			if !task.Generated() {
				t.Fatalf("%s: task %d not generated", tt.rng, i)
			}
			a, b, err := parseBounds(task.Lo, task.Hi)
			if err != nil || a.Cmp(next) != 0 {
				t.Fatalf("%s: task %d = %s..%s (%v), want it to start at %s", tt.rng, i, task.Lo, task.Hi, err, next)
			}
			size := new(big.Int).Sub(b, a)
			if minSize == nil || size.Cmp(minSize) < 0 {
				minSize = size
			}
			if maxSize == nil || size.Cmp(maxSize) > 0 {
				maxSize = size
			}
			next = new(big.Int).Add(b, big.NewInt(1))
		}
		if next.Sub(next, big.NewInt(1)).Cmp(hi) != 0 {
			t.Errorf("%s: tasks end at %s", tt.rng, next)
		}
		if new(big.Int).Sub(maxSize, minSize).Cmp(big.NewInt(1)) > 0 {
			t.Errorf("%s: uneven tasks, sizes %s to %s", tt.rng, minSize, maxSize)
		}
	}
	for _, params := range []map[string]string{nil, {"range": "9..1"}} {
		if _, err := (sumJob{}).GenerateTasks(&Spec{Job: "sum", Reducers: 1, Params: params}, 3); err == nil {
			t.Errorf("GenerateTasks(%v) succeeded", params)
		}
	}
}

func TestSumGeneratedTaskRejectsBadBounds(t *testing.T) {
	m, _ := sumJob{}.NewMapper(&Spec{Job: "sum", Reducers: 1}, MapEnv{})
	for _, task := range []Task{{Lo: "3", Hi: "1"}, {Lo: "x", Hi: "1"}, {Lo: "1"}} {
		if err := m.Map(task, nil); err == nil {
			t.Errorf("Map(%+v) succeeded", task)
		}
	}
}

func TestFinishChecksPartitions(t *testing.T) {
	for _, name := range Names() {
		j, _ := Lookup(name)
		m, err := j.NewMapper(&Spec{Job: name, Reducers: 2, Params: map[string]string{"pattern": "x"}}, MapEnv{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := m.Finish([]*RecordWriter{NewRecordWriter(io.Discard)}); err == nil {
			t.Errorf("%s: Finish with 1 writer for R=2 succeeded", name)
		}
	}
}
