package maplb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dlbp/dlbp/pkg/integrity"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/shuffle"
	"github.com/dlbp/dlbp/pkg/transport"
)

// A job's stored input carries the checksums of what the client uploaded: each chunk comes
// with its CRC32C, checked on arrival; maplb keeps a CRC32C per inputBlock of each document in
// a file beside it (doc-NNNNN.crc: one little-endian u32 per block, the last block's too, then
// the CRC32C of those), and checks every block a map task's read touches before it sends
// anything. A document damaged on this disk has no other copy: its job fails, naming it.
const inputBlock = 64 << 10

// docSums accumulates a document's block checksums as its chunks arrive.
type docSums struct {
	sums []uint32
	cur  uint32 // of the block being filled
	n    int    // its bytes so far
}

func (d *docSums) add(data []byte) {
	for len(data) > 0 {
		k := min(inputBlock-d.n, len(data))
		d.cur = integrity.Update(d.cur, data[:k])
		d.n += k
		data = data[k:]
		if d.n == inputBlock {
			d.sums = append(d.sums, d.cur)
			d.cur, d.n = 0, 0
		}
	}
}

// encode returns the file of the sums, the last block's included.
func (d *docSums) encode() []byte {
	sums := d.sums
	if d.n > 0 {
		sums = append(sums, d.cur)
	}
	b := make([]byte, 0, 4*len(sums)+4)
	for _, s := range sums {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return binary.LittleEndian.AppendUint32(b, integrity.Sum(b))
}

func (j *mjob) sumsPath(doc int) string { return j.docPath(doc) + ".crc" }

// checkUpload checks a chunk against the checksum the client made of it.
func checkUpload(r *protocol.Upload) error {
	if integrity.Sum(r.Data) != r.Sum {
		return transport.Errorf(transport.CodeBadRequest, "the chunk at byte %d of document %d arrived damaged (its checksum does not match): send it again", r.Offset, r.Doc)
	}
	return nil
}

// writeSums stores a document's checksums durably beside it. j.upMu is held.
func (j *mjob) writeSums(doc int) error {
	f, err := os.Create(j.sumsPath(doc))
	if err != nil {
		return err
	}
	if _, err := f.Write(j.upSums[doc].encode()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// blockSums returns document doc's block checksums, read once from its file; nil when the
// document has none (stored by a maplb before checksums), so it cannot be checked.
func (j *mjob) blockSums(doc int) ([]uint32, error) {
	j.sumMu.Lock()
	defer j.sumMu.Unlock()
	if s, ok := j.sums[doc]; ok {
		return s, nil
	}
	b, err := os.ReadFile(j.sumsPath(doc))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) < 4 || len(b)%4 != 0 || integrity.Sum(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, &integrity.CorruptError{What: j.docName(doc) + "'s checksums", Reason: "their own checksum does not match"}
	}
	sums := make([]uint32, len(b)/4-1)
	for i := range sums {
		sums[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	if j.sums == nil {
		j.sums = map[int][]uint32{}
	}
	j.sums[doc] = sums
	return sums, nil
}

// docName names a stored document in messages.
func (j *mjob) docName(doc int) string {
	return fmt.Sprintf("document %d (%s) of job %s, stored on maplb,", doc, j.spec.Docs[doc], j.id)
}

// readInput returns up to protocol.ChunkSize bytes of document doc from off (at most length),
// every block they touch checked against the client's checksums, with the chunk's own CRC32C
// for the reader to check on arrival.
func (j *mjob) readInput(doc int, off, length int64) (*protocol.Chunk, error) {
	if off < 0 || length < 0 {
		return nil, transport.Errorf(transport.CodeBadRequest, "input range at %d of %d bytes", off, length)
	}
	sums, err := j.blockSums(doc)
	if err != nil {
		return nil, err
	}
	f, size, err := shuffle.OpenData(j.docPath(doc))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := min(int64(protocol.ChunkSize), length, max(size-off, 0))
	// Read the whole blocks the range touches, so that each can be checked.
	from, to := off, off+n
	if sums != nil {
		from, to = off/inputBlock*inputBlock, min((off+n+inputBlock-1)/inputBlock*inputBlock, size)
		if want := (size + inputBlock - 1) / inputBlock; int64(len(sums)) != want {
			return nil, &integrity.CorruptError{What: j.docName(doc), Offset: 0,
				Reason: fmt.Sprintf("%d bytes where the client uploaded %d blocks of %d", size, len(sums), inputBlock)}
		}
	}
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if sums != nil {
		for b := from; b < to; b += inputBlock {
			block := buf[b-from : min(b-from+inputBlock, int64(len(buf)))]
			if integrity.Sum(block) != sums[b/inputBlock] {
				return nil, &integrity.CorruptError{What: j.docName(doc), Offset: b,
					Reason: fmt.Sprintf("the %d bytes from there do not match the checksum the client uploaded", len(block))}
			}
		}
	}
	data := buf[off-from : off-from+n]
	return &protocol.Chunk{Data: data, EOF: n == length || off+n >= size, Summed: true, Sum: integrity.Sum(data)}, nil
}
