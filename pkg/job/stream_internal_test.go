package job

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineParserCutsLinesAcrossWrites(t *testing.T) {
	var got []string
	p := &lineParser{what: "mapper 'm'", emit: splitRecord(func(k, v []byte) error {
		got = append(got, string(k)+"|"+string(v))
		return nil
	})}
	out := "a\t1\nno tab\n\t\nkey\tva\tlue\n\nlast"
	for i := 0; i < len(out); i += 3 { // writes that cut lines anywhere
		if _, err := p.Write([]byte(out[i:min(i+3, len(out))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a|1", "no tab|", "|", "key|va\tlue", "|", "last|"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("records %q, want %q", got, want)
	}
}

func TestLineParserRecordLimit(t *testing.T) {
	p := &lineParser{what: "mapper 'm'", emit: func([]byte) error { return nil }}
	if _, err := p.Write([]byte("short\n")); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), MaxStreamLine/4)
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = p.Write(big)
	}
	if !IsUserError(err) || !strings.Contains(err.Error(), "line 2 is longer than the record limit") {
		t.Fatalf("error %v, want a user error naming line 2 and the limit", err)
	}
	// A line of exactly the limit passes.
	p = &lineParser{what: "mapper 'm'", emit: func(l []byte) error {
		if len(l) != MaxStreamLine {
			t.Errorf("line of %d bytes", len(l))
		}
		return nil
	}}
	if _, err := p.Write(append(bytes.Repeat([]byte("y"), MaxStreamLine), '\n')); err != nil {
		t.Fatal(err)
	}
}

func TestLineEnder(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a\n", "a\n": "a\n", "a\nb": "a\nb\n", "\n": "\n"} {
		got, err := io.ReadAll(iotest.OneByteReader(&lineEnder{r: strings.NewReader(in)}))
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
		got, _ = io.ReadAll(&lineEnder{r: strings.NewReader(in)})
		if string(got) != want {
			t.Errorf("%q read whole: got %q, want %q", in, got, want)
		}
	}
}

func TestRecordLinesReportsDamage(t *testing.T) {
	var b bytes.Buffer
	w := NewRecordWriter(&b)
	w.Write([]byte("k"), []byte("v"))
	w.Flush()
	damaged := append(b.Bytes(), 5, 'x') // a record cut short
	h, err := newMerge([]io.Reader{bytes.NewReader(damaged)}, "partial")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordLines{src: &mergeSource{h: h}}
	if _, err := io.ReadAll(rl); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("reading the lines: %v, want the corrupt record", err)
	}
	if err := rl.failure(); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("failure() = %v, want the corrupt record", err)
	}
}

func TestStreamValidate(t *testing.T) {
	mod := strings.Repeat("ab", 32)
	good := func() *Spec {
		return &Spec{Job: StreamingJob, Reducers: 2, Stream: &Stream{
			Mapper: Command{Module: mod, Args: []string{"wc.wasm", "map"}}, Reducer: Command{Module: mod, Args: []string{"wc.wasm", "reduce"}}}}
	}
	if err := (streamJob{}).Validate(good(), true); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		tweak func(*Spec)
		want  string
	}{
		"no stream":      {func(s *Spec) { s.Stream = nil }, "needs --mapper"},
		"no reducer":     {func(s *Spec) { s.Stream.Reducer = Command{} }, "needs --reducer"},
		"bad digest":     {func(s *Spec) { s.Stream.Mapper.Module = "../../etc" }, "not a hex SHA-256"},
		"file for wasm":  {func(s *Spec) { s.Stream.Files = []File{{Name: "a", Digest: mod}} }, "--file is for native programs"},
		"file with path": {func(s *Spec) { s.Stream.Mapper.Module = ""; s.Stream.Files = []File{{Name: "../a", Digest: mod}} }, "plain file name"},
		"attempts":       {func(s *Spec) { s.Stream.MaxAttempts = 1000 }, "--max-attempts 1000"},
		"param name":     {func(s *Spec) { s.Params = map[string]string{"a=b": "c"} }, "parameter name"},
		"bounds":         {func(s *Spec) { s.Bounds = []string{"m"} }, "no partition bounds"},
	}
	for name, c := range cases {
		s := good()
		c.tweak(s)
		err := (streamJob{}).Validate(s, true)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
	if err := (streamJob{}).Validate(good(), false); err == nil {
		t.Error("a user job without input was accepted")
	}
}
