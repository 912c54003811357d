package job

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveCut is the obvious byte-at-a-time version of Cutter.
func naiveCut(doc int, data []byte, splitSize int64) []Task {
	splitSize = max(splitSize, 1)
	var tasks []Task
	start, line := int64(0), int64(1)
	startLine := line
	for i, c := range data {
		pos := int64(i) + 1
		if c == '\n' {
			line++
			if pos-start >= splitSize {
				tasks = append(tasks, Task{Doc: doc, Offset: start, Length: pos - start, FirstLine: startLine})
				start, startLine = pos, line
			}
		}
	}
	if int64(len(data)) > start {
		tasks = append(tasks, Task{Doc: doc, Offset: start, Length: int64(len(data)) - start, FirstLine: startLine})
	}
	return tasks
}

// cutInChunks feeds data to a Cutter in random-sized writes.
func cutInChunks(doc int, data []byte, splitSize int64, rng *rand.Rand) []Task {
	c := NewCutter(doc, splitSize)
	for p := data; len(p) > 0; {
		n := min(len(p), 1+rng.IntN(2*int(max(splitSize, 1))+3))
		c.Write(p[:n])
		p = p[n:]
	}
	if c.Size() != int64(len(data)) {
		panic("size")
	}
	return c.Close()
}

func TestCutter(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		splitSize int64
		want      []Task
	}{
		{"empty", "", 10, nil},
		{"one short line", "abc\n", 10, []Task{{Offset: 0, Length: 4, FirstLine: 1}}},
		{"no final newline", "abc", 10, []Task{{Offset: 0, Length: 3, FirstLine: 1}}},
		{"exact fit", "abc\ndef\n", 4, []Task{{0, 0, 4, 1, "", ""}, {0, 4, 4, 2, "", ""}}},
		{"long line makes a long split", "abcdefgh\nij\n", 3, []Task{{0, 0, 9, 1, "", ""}, {0, 9, 3, 2, "", ""}}},
		{"short lines join", "a\nb\nc\nd\ne\n", 4, []Task{{0, 0, 4, 1, "", ""}, {0, 4, 4, 3, "", ""}, {0, 8, 2, 5, "", ""}}},
		{"every line its own split", "a\n\nb", 0, []Task{{0, 0, 2, 1, "", ""}, {0, 2, 1, 2, "", ""}, {0, 3, 1, 3, "", ""}}},
		{"blank lines", "\n\n\n\n", 2, []Task{{0, 0, 2, 1, "", ""}, {0, 2, 2, 3, "", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCutter(0, tt.splitSize)
			c.Write([]byte(tt.data))
			if got := c.Close(); !slices.Equal(got, tt.want) {
				t.Errorf("tasks = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCutterProperties checks random documents against naiveCut and the split invariants.
func TestCutterProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		data := randomLines(rng, rng.IntN(3000))
		splitSize := int64(rng.IntN(200))
		got := cutInChunks(3, data, splitSize, rng)
		if want := naiveCut(3, data, splitSize); !slices.Equal(got, want) {
			t.Fatalf("case %d (split %d, %q):\n got %+v\nwant %+v", i, splitSize, data, got, want)
		}
		checkSplits(t, data, splitSize, got)
	}
}

func checkSplits(t *testing.T, data []byte, splitSize int64, tasks []Task) {
	t.Helper()
	var pos int64
	for i, task := range tasks {
		if task.Offset != pos || task.Length <= 0 {
			t.Fatalf("split %d = %+v does not follow offset %d", i, task, pos)
		}
		split := data[task.Offset : task.Offset+task.Length]
		last := i == len(tasks)-1
		if !last && (split[len(split)-1] != '\n' || task.Length < splitSize) {
			t.Fatalf("split %d = %+v: %q is not a whole-line split of at least %d bytes", i, task, split, splitSize)
		}
		if want := int64(bytes.Count(data[:task.Offset], []byte{'\n'})) + 1; task.FirstLine != want {
			t.Fatalf("split %d FirstLine = %d, want %d", i, task.FirstLine, want)
		}
		pos += task.Length
	}
	if pos != int64(len(data)) {
		t.Fatalf("splits cover %d bytes of %d", pos, len(data))
	}
}

func randomLines(rng *rand.Rand, n int) []byte {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(strings.Repeat("x", rng.IntN(40)))
		if rng.IntN(10) > 0 {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

func FuzzCutter(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), int64(2), uint8(3))
	f.Add([]byte("no newline"), int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, splitSize int64, chunk uint8) {
		splitSize %= 1 << 20
		c := NewCutter(0, splitSize)
		for p := data; len(p) > 0; {
			n := min(len(p), int(chunk)+1)
			c.Write(p[:n])
			p = p[n:]
		}
		got := c.Close()
		if want := naiveCut(0, data, splitSize); !slices.Equal(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		checkSplits(t, data, splitSize, got)
	})
}

func BenchmarkCutter(b *testing.B) {
	data := randomLines(rand.New(rand.NewPCG(1, 1)), 8<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := NewCutter(0, 1<<20)
		for p := data; len(p) > 0; p = p[min(len(p), 32<<10):] {
			c.Write(p[:min(len(p), 32<<10)])
		}
		c.Close()
	}
}
