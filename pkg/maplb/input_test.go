package maplb

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/shuffle"
)

// storedJob uploads data as document 0 of a job, in chunks of random sizes, and commits it.
func storedJob(t *testing.T, data []byte, rng *rand.Rand) *mjob {
	t.Helper()
	j, err := newJob("jtest", job.Spec{Job: "wordcount", Reducers: 1, Docs: []string{"a.txt"}}, sched.ModeDLBP, t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	j.maxInput = 1 << 30
	for off := 0; off < len(data); {
		n := min(len(data)-off, 1+rng.IntN(200<<10))
		if err := j.upload(context.Background(), 0, int64(off), data[off:off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if err := j.commit(2); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestReadInputChecksAndServes: readInput serves what the unchecked read of the same range
// does (bytes, end of range), with the chunk's CRC32C, and refuses a range that touches a
// damaged block, wherever the damage is in the block.
func TestReadInputChecksAndServes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	data := make([]byte, 3*inputBlock+1234)
	for i := range data {
		data[i] = 'a' + byte(rng.IntN(26))
	}
	j := storedJob(t, data, rng)
	size := int64(len(data))
	for range 300 {
		off := rng.Int64N(size + 1)
		length := rng.Int64N(size - off + 1)
		got, err := j.readInput(0, off, length)
		if err != nil {
			t.Fatalf("read of %d bytes at %d: %v", length, off, err)
		}
		want, err := shuffle.ReadRange(j.docPath(0), off, length, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, want.Data) || got.EOF != want.EOF {
			t.Fatalf("read of %d bytes at %d: %d bytes eof %v, want %d bytes eof %v", length, off, len(got.Data), got.EOF, len(want.Data), want.EOF)
		}
		if !got.Summed || got.Sum != integrity.Sum(got.Data) {
			t.Fatalf("read at %d: the chunk's checksum is missing or wrong", off)
		}
	}
	// Damage one byte of the second block: reads touching that block fail, others do not.
	stored, err := os.ReadFile(j.docPath(0))
	if err != nil {
		t.Fatal(err)
	}
	at := int64(inputBlock + rng.IntN(inputBlock))
	stored[at] ^= 0x20
	if err := os.WriteFile(j.docPath(0), stored, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, length int64 }{{0, 10}, {inputBlock - 5, 10}, {at, 1}, {2*inputBlock - 1, 1}, {2 * inputBlock, 100}, {0, size}} {
		_, err := j.readInput(0, r.off, r.length)
		touches := r.off < 2*inputBlock && r.off+min(r.length, int64(protocol.ChunkSize)) > inputBlock
		if touches != integrity.IsCorrupt(err) {
			t.Errorf("read of %d bytes at %d (damage at %d): error %v", r.length, r.off, at, err)
		}
	}
}
