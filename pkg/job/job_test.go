package job

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	if got, want := Names(), []string{"grep", "indexer", "sort", "sum", "wordcount"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, name := range Names() {
		j, err := Lookup(name)
		if err != nil || j.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, j, err)
		}
	}
	_, err := Lookup("foo")
	if err == nil || err.Error() != `unknown job "foo" (known: grep, indexer, sort, sum, wordcount)` {
		t.Errorf("Lookup(foo) error = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		job      string
		params   map[string]string
		reducers int
		hasInput bool
		wantErr  string // "" for valid
	}{
		{"wordcount", nil, 1, true, ""},
		{"wordcount", nil, 4, true, ""},
		{"wordcount", nil, 1, false, "wordcount needs input"},
		{"wordcount", map[string]string{"pattern": "x"}, 1, true, `unknown param "pattern"`},
		{"wordcount", nil, 0, true, "reducers must be at least 1"},
		{"sum", nil, 1, true, ""},
		{"sum", nil, 1, false, "sum needs input or --param range=A..B"},
		{"sum", map[string]string{"range": "1..10"}, 2, false, ""},
		{"sum", map[string]string{"range": "-5..-5"}, 1, false, ""},
		{"sum", map[string]string{"range": "-100000000000000000000000..100000000000000000000000000"}, 1, false, ""},
		{"sum", map[string]string{"range": "1..10"}, 1, true, "takes no input"},
		{"sum", map[string]string{"range": "1.."}, 1, false, `bad range "1.."`},
		{"sum", map[string]string{"range": "..1"}, 1, false, `bad range "..1"`},
		{"sum", map[string]string{"range": "a..b"}, 1, false, `bad range "a..b"`},
		{"sum", map[string]string{"range": "5..1"}, 1, false, `bad range "5..1"`},
		{"sum", map[string]string{"range": "1-5"}, 1, false, `bad range "1-5"`},
		{"sum", map[string]string{"range": "1...5"}, 1, false, `bad range "1...5"`},
		{"sum", map[string]string{"range": "1..5", "step": "2"}, 1, false, `unknown param "step"`},
		{"indexer", nil, 3, true, ""},
		{"indexer", nil, 1, false, "indexer needs input"},
		{"indexer", map[string]string{"pattern": "x"}, 1, true, `indexer: unknown param "pattern" (it takes none)`},
		{"grep", map[string]string{"pattern": `^The\b`}, 2, true, ""},
		{"grep", map[string]string{"pattern": ""}, 1, true, ""},
		{"grep", nil, 1, true, "grep needs --param pattern=RE"},
		{"grep", map[string]string{"pattern": "a("}, 1, true, `grep: bad pattern "a(": error parsing regexp: missing closing ): ` + "`a(`"},
		{"grep", map[string]string{"pattern": "x", "ignore-case": "1"}, 1, true, `grep: unknown param "ignore-case" (known: pattern)`},
		{"grep", map[string]string{"pattern": "x"}, 1, false, "grep needs input"},
		{"sort", nil, 8, true, ""},
		{"sort", nil, 1, false, "sort needs input"},
		{"sort", map[string]string{"key": "2"}, 1, true, `sort: unknown param "key" (it takes none)`},
	}
	for _, tt := range tests {
		j, err := Lookup(tt.job)
		if err != nil {
			t.Fatal(err)
		}
		spec := &Spec{Job: tt.job, Params: tt.params, Reducers: tt.reducers}
		err = j.Validate(spec, tt.hasInput)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %v R=%d input=%v: unexpected error %v", tt.job, tt.params, tt.reducers, tt.hasInput, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %v R=%d input=%v: error %v, want %q", tt.job, tt.params, tt.reducers, tt.hasInput, err, tt.wantErr)
		}
	}
}

func TestValidateSortBounds(t *testing.T) {
	tests := []struct {
		bounds   []string
		reducers int
		wantErr  string
	}{
		{nil, 4, ""},
		{[]string{"b", "m", "t"}, 4, ""},
		{[]string{"m"}, 4, ""}, // fewer is fine
		{[]string{"b", "m", "t"}, 3, "sort: 3 bounds for 3 partitions (at most 2)"},
		{[]string{"m", "b"}, 3, `sort: bounds not strictly increasing: "m" then "b"`},
		{[]string{"m", "m"}, 3, "not strictly increasing"},
	}
	for _, tt := range tests {
		spec := &Spec{Job: "sort", Reducers: tt.reducers, Bounds: tt.bounds}
		err := sortJob{}.Validate(spec, true)
		_, merr := sortJob{}.NewMapper(spec, MapEnv{})
		for _, e := range []error{err, merr} {
			if tt.wantErr == "" && e != nil || tt.wantErr != "" && (e == nil || !strings.Contains(e.Error(), tt.wantErr)) {
				t.Errorf("bounds %q R=%d: error %v, want %q", tt.bounds, tt.reducers, e, tt.wantErr)
			}
		}
	}
}

func TestRecordError(t *testing.T) {
	tests := []struct {
		err  *RecordError
		want string
	}{
		{&RecordError{Doc: "pg.txt", Line: 12, Record: "12x", Msg: "not an integer"}, `pg.txt:12: not an integer: "12x"`},
		{&RecordError{Doc: "-", Line: 1, Record: "\xff\t", Msg: "not an integer"}, `-:1: not an integer: "\xff\t"`},
		{newRecordError("big", 3, []byte(strings.Repeat("z", 5000)), "not an integer"),
			`big:3: not an integer: "` + strings.Repeat("z", 100) + `"...`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %s, want %s", got, tt.want)
		}
	}
	var err error = newRecordError("d", 1, []byte("x"), "m")
	var re *RecordError
	if !errors.As(err, &re) || re.Doc != "d" {
		t.Errorf("errors.As failed on %v", err)
	}
}

func TestTaskGenerated(t *testing.T) {
	if (Task{Doc: 1, Length: 5}).Generated() || !(Task{Lo: "0", Hi: "0"}).Generated() {
		t.Error("Generated() is wrong")
	}
}
