package job

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// sumJob adds decimal integers exactly: one per line of the input, or every integer of
// --param range=A..B when there is no input. The output is one line, the decimal sum.
type sumJob struct{}

var (
	_ Job       = sumJob{}
	_ Generator = sumJob{}
	_ Combiner  = sumJob{}
)

// sumKey is the single key every sum partial and output carries.
var sumKey = []byte{}

func (sumJob) Name() string { return "sum" }

func (sumJob) Validate(spec *Spec, hasInput bool) error {
	if err := checkSpec(spec, "range"); err != nil {
		return err
	}
	rng, ok := spec.Params["range"]
	switch {
	case ok && hasInput:
		return errors.New("sum: --param range=A..B takes no input, but input was given")
	case ok:
		_, _, err := parseRange(rng)
		return err
	case !hasInput:
		return errors.New("sum needs input or --param range=A..B")
	}
	return nil
}

// GenerateTasks splits the range into min(n, B-A+1) contiguous subranges of near-equal size.
// minRangeTask is the fewest numbers of a range that GenerateTasks gives a
// task of its own (a variable for tests).
var minRangeTask int64 = 1 << 20

func (sumJob) GenerateTasks(spec *Spec, n int) ([]Task, error) {
	rng, ok := spec.Params["range"]
	if !ok {
		return nil, errors.New("sum: no --param range=A..B to generate input from")
	}
	lo, hi, err := parseRange(rng)
	if err != nil {
		return nil, err
	}
	count := new(big.Int).Sub(hi, lo)
	count.Add(count, big.NewInt(1))
	k := big.NewInt(int64(max(n, 1)))
	// A task of fewer numbers than minRangeTask is not worth a round trip
	// to a node: small ranges are one task or a few.
	if most := new(big.Int).Quo(count, big.NewInt(minRangeTask)); most.Cmp(k) < 0 {
		k.Set(most)
	}
	if k.Sign() == 0 || count.Cmp(k) < 0 {
		k.SetInt64(1)
	}
	size, extra := new(big.Int).QuoRem(count, k, new(big.Int)) // the first extra tasks get size+1
	tasks := make([]Task, 0, k.Int64())
	start := new(big.Int).Set(lo)
	one := big.NewInt(1)
	for i := int64(0); i < k.Int64(); i++ {
		end := new(big.Int).Add(start, size)
		if extra.Cmp(big.NewInt(i)) <= 0 {
			end.Sub(end, one)
		}
		tasks = append(tasks, Task{Lo: start.String(), Hi: end.String()})
		start = end.Add(end, one)
	}
	return tasks, nil
}

// NewMapper ignores env: a sum mapper holds one number, never enough to spill.
func (sumJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	return &sumMapper{spec: spec}, nil
}

func (sumJob) NewReducer(spec *Spec) (Reducer, error) { return &sumReducer{}, nil }

// Combine adds partial sums.
func (sumJob) Combine(key []byte, values [][]byte, out func([]byte) error) error {
	total, err := addPartials(values)
	if err != nil {
		return err
	}
	return out(total.Append(nil, 10))
}

// sumMapper adds in an int64 while it can and spills into a big.Int when that would overflow.
type sumMapper struct {
	spec  *Spec
	small int64
	total big.Int
	tmp   big.Int
}

func (m *sumMapper) Map(t Task, r io.Reader) error {
	if t.Generated() {
		return m.mapRange(t)
	}
	if r == nil {
		return errors.New("sum: task has no input")
	}
	return ForEachLine(r, t.FirstLine, func(lineNo int64, line []byte) error {
		s := bytes.TrimSpace(line)
		if len(s) == 0 {
			return nil
		}
		if !m.add(s) {
			return newRecordError(m.spec.docName(t.Doc), lineNo, line, "not an integer")
		}
		return nil
	})
}

// add adds the decimal integer s (optional sign, then digits) and reports whether s is one.
func (m *sumMapper) add(s []byte) bool {
	neg := false
	digits := s
	if digits[0] == '+' || digits[0] == '-' {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) > 18 { // may not fit an int64
		m.tmp.SetString(string(digits), 10)
		if neg {
			m.tmp.Neg(&m.tmp)
		}
		m.total.Add(&m.total, &m.tmp)
		return true
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	if sum := m.small + v; (v > 0 && sum < m.small) || (v < 0 && sum > m.small) {
		m.total.Add(&m.total, m.tmp.SetInt64(m.small))
		m.small = v
	} else {
		m.small = sum
	}
	return true
}

// mapRange adds every integer of [t.Lo, t.Hi] in O(1): (lo+hi)·(hi-lo+1)/2.
func (m *sumMapper) mapRange(t Task) error {
	lo, hi, err := parseBounds(t.Lo, t.Hi)
	if err != nil {
		return err
	}
	n := new(big.Int).Sub(hi, lo)
	n.Add(n, big.NewInt(1))
	s := new(big.Int).Add(lo, hi)
	s.Mul(s, n)
	s.Quo(s, big.NewInt(2)) // exact: one of lo+hi and hi-lo+1 is even
	m.total.Add(&m.total, s)
	return nil
}

// Finish always writes the mapper's sum, even zero, under the key "", so that empty input
// prints 0.
func (m *sumMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		return err
	}
	total := new(big.Int).Add(&m.total, m.tmp.SetInt64(m.small))
	if err := parts[HashPartition(sumKey, len(parts))].Write(sumKey, total.Append(nil, 10)); err != nil {
		return err
	}
	return flushAll(parts)
}

// sumReducer adds the partial sums into the one output line.
type sumReducer struct{}

func (sumReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	total, err := addPartials(values)
	if err != nil {
		return err
	}
	return out.Write(key, total.Append(nil, 10))
}

// addPartials adds decimal partial sums.
func addPartials(values [][]byte) (*big.Int, error) {
	var total, v big.Int
	for _, b := range values {
		if _, ok := v.SetString(string(b), 10); !ok {
			return nil, fmt.Errorf("sum: bad partial sum %.64q", b)
		}
		total.Add(&total, &v)
	}
	return &total, nil
}

// parseRange parses --param range=A..B: inclusive, decimal, A ≤ B, of any size.
func parseRange(s string) (lo, hi *big.Int, err error) {
	a, b, ok := strings.Cut(s, "..")
	if ok {
		lo, hi, err = parseBounds(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	if !ok || err != nil {
		return nil, nil, fmt.Errorf("sum: bad range %q: want A..B, decimal integers with A ≤ B (e.g. 1..1000000)", s)
	}
	return lo, hi, nil
}

// parseBounds parses the decimal integers lo ≤ hi.
func parseBounds(a, b string) (lo, hi *big.Int, err error) {
	lo, hi = new(big.Int), new(big.Int)
	if !isDecimal(a) || !isDecimal(b) {
		return nil, nil, fmt.Errorf("sum: bad range %q..%q: not decimal integers", a, b)
	}
	lo.SetString(a, 10)
	hi.SetString(b, 10)
	if lo.Cmp(hi) > 0 {
		return nil, nil, fmt.Errorf("sum: bad range %s..%s: start exceeds end", a, b)
	}
	return lo, hi, nil
}

// isDecimal reports whether s is an optional sign followed by one or more ASCII digits.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
