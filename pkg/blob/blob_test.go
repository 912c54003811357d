package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestPutInChunks(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("module bytes "), 1000)
	d := digestOf(data)
	if got := s.Missing([]string{d}); len(got) != 1 {
		t.Fatalf("Missing = %v before the upload", got)
	}
	for off := 0; off < len(data); off += 4096 {
		end := min(off+4096, len(data))
		if err := s.Put(d, int64(off), data[off:end], end == len(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(s.Path(d))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, %v", len(got), err)
	}
	if m := s.Missing([]string{d, strings.Repeat("0", 64)}); len(m) != 1 || m[0] != strings.Repeat("0", 64) {
		t.Fatalf("Missing = %v", m)
	}
}

func TestPutRefusesBadUploads(t *testing.T) {
	s, err := Open(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("0123456789")
	d := digestOf(data)
	cases := []struct {
		name string
		put  func() error
	}{
		{"wrong digest", func() error { return s.Put(digestOf([]byte("other")), 0, data, true, 10) }},
		{"too large", func() error { return s.Put(d, 0, data, true, 101) }},
		{"bad digest", func() error { return s.Put("../x", 0, data, true, 10) }},
		{"short", func() error { return s.Put(d, 0, data[:5], true, 10) }},
		// After the short upload (which must have left nothing), the second half alone is out
		// of order.
		{"out of order", func() error { return s.Put(d, 5, data[5:], true, 10) }},
	}
	for _, c := range cases {
		if err := c.put(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if s.Has(d) || s.Has(digestOf([]byte("other"))) {
		t.Fatal("a refused upload was kept")
	}
}

func TestFetchOnceAndVerified(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 100000)
	d := digestOf(data)
	var opens atomic.Int32
	release := make(chan struct{})
	open := func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		<-release
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Fetch(context.Background(), d, open)
			errs <- err
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := opens.Load(); n != 1 {
		t.Fatalf("fetched %d times, want once", n)
	}
	damaged := append([]byte(nil), data...)
	damaged[500] = 'y'
	other := digestOf(append(data, 'z'))
	_, err = s.Fetch(context.Background(), other, func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(damaged)), nil
	})
	if err == nil || !strings.Contains(err.Error(), "damaged") || s.Has(other) {
		t.Fatalf("damaged fetch: %v (kept: %v)", err, s.Has(other))
	}
}
