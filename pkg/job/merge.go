package job

import (
	"bufio"
	"bytes"
	"container/heap"
	"fmt"
	"io"
)

// recordSource is a stream of records, sorted by key: a RecordReader, or a mapper's in-memory
// table during a spill merge. Next returns io.EOF at the end; the slices are valid until the
// next call.
type recordSource interface {
	Next() (key, value []byte, err error)
}

// cursor is one sorted record stream being merged: its current record and the key before it.
type cursor struct {
	rr    recordSource
	input int // index of the stream, to break ties and name it in errors
	key   []byte
	value []byte
	prev  []byte
}

// advance moves to the next record, checking that the stream is sorted. It returns io.EOF at
// the stream's end.
func (c *cursor) advance(what string) error {
	c.prev = append(c.prev[:0], c.key...)
	key, value, err := c.rr.Next()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("%s %d: %w", what, c.input, err)
	}
	if bytes.Compare(key, c.prev) < 0 {
		return fmt.Errorf("%s %d not sorted: key %.64q after %.64q", what, c.input, key, c.prev)
	}
	c.key, c.value = key, value
	return nil
}

// cursorHeap orders cursors by current key, then by input index, so that equal keys come out in
// input order.
type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return h[i].input < h[j].input
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// newMerge opens a cursor on every input, positioned on its first record.
func newMerge(inputs []io.Reader, what string) (*cursorHeap, error) {
	sources := make([]recordSource, len(inputs))
	for i, in := range inputs {
		sources[i] = NewRecordReader(in)
	}
	return newSourceMerge(sources, what)
}

// newSourceMerge positions a cursor on the first record of every source.
func newSourceMerge(sources []recordSource, what string) (*cursorHeap, error) {
	h := make(cursorHeap, 0, len(sources))
	for i, src := range sources {
		c := &cursor{rr: src, input: i}
		switch err := c.advance(what); err {
		case nil:
			h = append(h, c)
		case io.EOF:
		default:
			return nil, err
		}
	}
	heap.Init(&h)
	return &h, nil
}

// step advances the smallest cursor, dropping it at the end of its stream.
func (h *cursorHeap) step(what string) error {
	switch err := (*h)[0].advance(what); err {
	case nil:
		heap.Fix(h, 0)
	case io.EOF:
		heap.Pop(h)
	default:
		return err
	}
	return nil
}

// ReducePartition merges the sorted partials of one partition (each a record stream a Mapper's
// Finish wrote), groups equal keys across them and calls red.Reduce once per key, in key order.
// It streams: memory holds one record per input plus the current key's values. A partial whose
// keys go down fails with "partial N not sorted". out is flushed before returning.
func ReducePartition(red Reducer, inputs []io.Reader, out *RecordWriter) error {
	const what = "partial"
	h, err := newMerge(inputs, what)
	if err != nil {
		return err
	}
	var (
		key    []byte
		arena  []byte // the current key's values, back to back
		ends   []int
		values [][]byte
	)
	for h.Len() > 0 {
		key = append(key[:0], (*h)[0].key...)
		arena, ends = arena[:0], ends[:0]
		for h.Len() > 0 && bytes.Equal((*h)[0].key, key) {
			arena = append(arena, (*h)[0].value...)
			ends = append(ends, len(arena))
			if err := h.step(what); err != nil {
				return err
			}
		}
		values = values[:0]
		start := 0
		for _, end := range ends {
			values = append(values, arena[start:end:end])
			start = end
		}
		if err := red.Reduce(key, values, out); err != nil {
			return err
		}
	}
	return out.Flush()
}

// MergeOutput merges the reducers' output parts (record streams) by key and writes each record's
// value as a line to w: the whole result in the job's order. Equal keys from different parts come
// out in part order, equal keys within one part in their order there.
func MergeOutput(inputs []io.Reader, w io.Writer) error {
	const what = "part"
	h, err := newMerge(inputs, what)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for h.Len() > 0 {
		bw.Write((*h)[0].value)
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		if err := h.step(what); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteLines writes one output part's records as lines (value + '\n'), in their order: what
// `--output DIR` stores as part-NNNNN.
func WriteLines(r io.Reader, w io.Writer) error {
	rr := NewRecordReader(r)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		_, value, err := rr.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
		bw.Write(value)
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
	}
}
