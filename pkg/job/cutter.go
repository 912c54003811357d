package job

import "bytes"

// Cutter cuts a document into map tasks while it is uploaded: it observes the bytes as they
// stream past (it is an io.Writer, for io.TeeReader or io.MultiWriter) and keeps only counters,
// so a document of any size is cut in O(1) memory besides the tasks themselves.
//
// Every split ends right after a '\n' (or at the end of the document) and is at least splitSize
// bytes long, except the last; a line longer than splitSize makes a longer split. Splits never
// cut a line, so no job has to look at a neighbouring split.
type Cutter struct {
	doc       int
	splitSize int64
	pos       int64 // bytes seen
	lines     int64 // '\n' seen
	start     int64 // offset of the current split
	startLine int64 // FirstLine of the current split
	tasks     []Task
}

// NewCutter returns a Cutter for document doc (an index into Spec.Docs). A splitSize below 1 is
// taken as 1, which makes a split of every line.
func NewCutter(doc int, splitSize int64) *Cutter {
	return &Cutter{doc: doc, splitSize: max(splitSize, 1), startLine: 1}
}

// Write observes the next bytes of the document. It never fails.
func (c *Cutter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		// The split may end only after a '\n' at offset ≥ start+splitSize-1: skip to there.
		if skip := c.start + c.splitSize - 1 - c.pos; skip > 0 {
			k := int(min(skip, int64(len(p))))
			c.lines += int64(bytes.Count(p[:k], newline))
			c.pos += int64(k)
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.pos += int64(len(p))
			break
		}
		c.pos += int64(i + 1)
		c.lines++
		p = p[i+1:]
		c.cut()
	}
	return n, nil
}

// cut ends the current split at pos.
func (c *Cutter) cut() {
	c.tasks = append(c.tasks, Task{Doc: c.doc, Offset: c.start, Length: c.pos - c.start, FirstLine: c.startLine})
	c.start = c.pos
	c.startLine = c.lines + 1
}

// Close ends the document and returns its splits, which cover it exactly, in order. An empty
// document yields no tasks; a job left with no task at all should still run one empty task
// (Task{Doc: 0, FirstLine: 1}), so that its output exists (sum of nothing prints 0).
func (c *Cutter) Close() []Task {
	if c.pos > c.start {
		c.cut()
	}
	return c.tasks
}

// Size returns the number of bytes observed so far.
func (c *Cutter) Size() int64 { return c.pos }

var newline = []byte{'\n'}
