package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
)

// UserJob is a user job as the command line gives it: its commands as typed and the local
// files they use.
type UserJob struct {
	Mapper, Reducer, Combiner string   // commands; Combiner may be empty
	Files                     []string // --file paths
	MaxAttempts               int
	TaskTimeout               time.Duration // 0: the default
}

// localBlob is a file of the user's that the job carries: a module or a --file.
type localBlob struct {
	path   string
	digest string
	size   int64
}

// Stream turns a user job's commands into the spec's Stream, reading every module and --file
// (to know its digest), and returns the blobs to upload. A command whose first word ends in
// ".wasm" is a WebAssembly module read from that path; any other is a native program.
func (u UserJob) Stream() (*job.Stream, []localBlob, error) {
	st := &job.Stream{MaxAttempts: u.MaxAttempts, TaskTimeout: u.TaskTimeout}
	blobs := map[string]localBlob{}
	var order []string
	add := func(path string) (localBlob, error) {
		b, err := hashFile(path)
		if err != nil {
			return b, err
		}
		if _, ok := blobs[b.digest]; !ok {
			blobs[b.digest] = b
			order = append(order, b.digest)
		}
		return b, nil
	}
	for _, c := range []struct {
		flag, text string
		dst        *job.Command
	}{{"--mapper", u.Mapper, &st.Mapper}, {"--reducer", u.Reducer, &st.Reducer}, {"--combiner", u.Combiner, &st.Combiner}} {
		if c.text == "" {
			continue
		}
		words, err := SplitCommand(c.text)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %q: %w", c.flag, c.text, err)
		}
		if len(words) == 0 {
			return nil, nil, fmt.Errorf("%s is empty", c.flag)
		}
		c.dst.Args = words
		if strings.HasSuffix(words[0], ".wasm") {
			b, err := add(words[0])
			if err != nil {
				return nil, nil, fmt.Errorf("%s: module %w", c.flag, err)
			}
			c.dst.Module = b.digest
		}
	}
	for _, path := range u.Files {
		b, err := add(path)
		if err != nil {
			return nil, nil, fmt.Errorf("--file %w", err)
		}
		st.Files = append(st.Files, job.File{Name: filepath.Base(path), Digest: b.digest, Size: b.size})
	}
	out := make([]localBlob, len(order))
	for i, d := range order {
		out[i] = blobs[d]
	}
	return st, out, nil
}

// hashFile reads a local file and returns it as a blob.
func hashFile(path string) (localBlob, error) {
	f, err := os.Open(path)
	if err != nil {
		return localBlob{}, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return localBlob{}, err
	}
	if !st.Mode().IsRegular() {
		return localBlob{}, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > protocol.MaxBlobSize {
		return localBlob{}, fmt.Errorf("%s: %d bytes, at most %d", path, st.Size(), protocol.MaxBlobSize)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return localBlob{}, fmt.Errorf("%s: %w", path, err)
	}
	return localBlob{path: path, digest: hex.EncodeToString(h.Sum(nil)), size: n}, nil
}

// uploadBlobs sends maplb the blobs it does not hold yet, each once.
func (c *Client) uploadBlobs(ctx context.Context, blobs []localBlob) error {
	if len(blobs) == 0 {
		return nil
	}
	req := &protocol.BlobStat{}
	for _, b := range blobs {
		req.Digests = append(req.Digests, b.digest)
	}
	var missing protocol.BlobStatReply
	if err := c.call(ctx, protocol.MethodBlobStat, req, &missing); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, d := range missing.Missing {
		want[d] = true
	}
	for _, b := range blobs {
		if !want[b.digest] {
			continue
		}
		if err := c.uploadBlob(ctx, b); err != nil {
			return fmt.Errorf("uploading %s: %w", b.path, err)
		}
	}
	return nil
}

// uploadBlob sends one blob in order, chunk by chunk.
func (c *Client) uploadBlob(ctx context.Context, b localBlob) error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, protocol.ChunkSize)
	var off int64
	for {
		n, err := io.ReadFull(f, buf)
		last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || off+int64(n) == b.size
		if err != nil && !last {
			return err
		}
		if off+int64(n) > b.size {
			return fmt.Errorf("%s changed while it was sent", b.path)
		}
		put := &protocol.BlobPut{Digest: b.digest, Offset: off, Data: buf[:n], Last: last, Size: b.size}
		if err := c.call(ctx, protocol.MethodBlobPut, put, nil); err != nil {
			return err
		}
		off += int64(n)
		if last {
			return nil
		}
	}
}

// SubmitUser submits a user job: it uploads the modules and --files maplb lacks, then the job
// as Submit does. spec's Job is set to job.StreamingJob and its Stream to the user's commands.
func (c *Client) SubmitUser(ctx context.Context, spec job.Spec, u UserJob, splitSize int64, inputs []Input) (*protocol.JobStatus, error) {
	st, blobs, err := u.Stream()
	if err != nil {
		return nil, err
	}
	if err := c.uploadBlobs(ctx, blobs); err != nil {
		return nil, err
	}
	spec.Job, spec.Stream = job.StreamingJob, st
	return c.Submit(ctx, spec, splitSize, inputs)
}

// SplitCommand cuts a command into words as a shell would for simple cases: words are separated
// by blanks; single quotes keep everything up to the next one; double quotes keep blanks, and a
// backslash in them or outside escapes the next character.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
