package integrity

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// stream returns data written as a checked stream, with writes of random sizes.
func stream(t testing.TB, data []byte, rng *rand.Rand) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(3*BlockSize/2))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func randomData(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, BlockSize - 1, BlockSize, BlockSize + 1, 5*BlockSize + 17} {
		data := randomData(rng, n)
		got, err := io.ReadAll(NewReader(bytes.NewReader(stream(t, data, rng)), "test data"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
}

// TestByteFlipsAreFound flips every byte of the stream's framing (header, block lengths and
// checksums, end) and of the data near them, and many more at random, and checks that the
// reader reports damage and never hands out a flipped byte.
func TestByteFlipsAreFound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := randomData(rng, BlockSize+100)
	good := stream(t, data, rng)
	var at []int
	second := int(HeaderSize) + blockHeader + BlockSize // the second block's header
	for i := range good {
		if i < 64 || i >= len(good)-64 || i >= second-32 && i < second+32 {
			at = append(at, i)
		}
	}
	for range 300 {
		at = append(at, rng.IntN(len(good)))
	}
	t.Logf("flipping %d of %d bytes, one at a time", len(at), len(good))
	for _, i := range at {
		bad := bytes.Clone(good)
		bad[i] ^= 1 << rng.IntN(8)
		got, err := io.ReadAll(NewReader(bytes.NewReader(bad), "test data"))
		if !IsCorrupt(err) {
			t.Fatalf("byte %d flipped: %v, want damage", i, err)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("byte %d flipped: the reader handed out bytes that are not the data's", i)
		}
	}
}

func TestCutShortAndTrailing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := randomData(rng, BlockSize+10)
	good := stream(t, data, rng)
	for n := 0; n < len(good); n++ {
		if _, err := io.ReadAll(NewReader(bytes.NewReader(good[:n]), "x")); !IsCorrupt(err) {
			t.Fatalf("cut to %d of %d bytes: %v, want damage", n, len(good), err)
		}
	}
	if _, err := io.ReadAll(NewReader(bytes.NewReader(append(bytes.Clone(good), 0)), "x")); !IsCorrupt(err) {
		t.Fatalf("a byte after the end: %v, want damage", err)
	}
	var ce *CorruptError
	_, err := io.ReadAll(NewReader(bytes.NewReader(good[:len(good)-1]), "part 3 of job j1"))
	if !errors.As(err, &ce) || ce.What != "part 3 of job j1" {
		t.Fatalf("error %v does not name the data", err)
	}
}

// failingReader serves src until limit bytes, then fails as a lost connection would.
type failingReader struct {
	src   io.Reader
	limit int
}

var errLost = errors.New("connection lost")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.limit <= 0 {
		return 0, errLost
	}
	p = p[:min(len(p), f.limit)]
	n, err := f.src.Read(p)
	f.limit -= n
	return n, err
}

// TestResume: a first copy that is damaged, or whose connection is lost, is left at the failed
// block for a second copy, from the same offset; the data comes out whole.
func TestResume(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := randomData(rng, 4*BlockSize+3)
	good := stream(t, data, rng)
	for _, cut := range []int{0, 2, int(HeaderSize) + 5, BlockSize + 30, 3 * BlockSize} {
		for _, damage := range []bool{false, true} {
			var first io.Reader = &failingReader{src: bytes.NewReader(good), limit: cut}
			if damage {
				bad := bytes.Clone(good)
				bad[cut] ^= 0x40
				first = bytes.NewReader(bad)
			}
			r := NewReader(first, "x")
			var out bytes.Buffer
			_, err := io.Copy(&out, r)
			if err == nil {
				t.Fatalf("cut %d damage %v: no error from the first copy", cut, damage)
			}
			if damage != IsCorrupt(err) {
				t.Fatalf("cut %d damage %v: error %v", cut, damage, err)
			}
			r.Resume(bytes.NewReader(good[r.Offset():]))
			if _, err := io.Copy(&out, r); err != nil {
				t.Fatalf("cut %d damage %v: the second copy: %v", cut, damage, err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("cut %d damage %v: %d bytes out, want %d", cut, damage, out.Len(), len(data))
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	f.Add(stream(f, []byte("hello"), rng))
	f.Add(stream(f, randomData(rng, 300), rng))
	f.Add([]byte("DLC1\x05\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the bytes, the reader ends (with data and EOF only for a valid stream) and
		// never allocates beyond MaxBlock.
		got, err := io.ReadAll(NewReader(bytes.NewReader(b), "x"))
		if err == nil {
			again := stream(t, got, rand.New(rand.NewPCG(1, 1)))
			if _, err := io.ReadAll(NewReader(bytes.NewReader(again), "x")); err != nil {
				t.Fatalf("the data of a valid stream does not round-trip: %v", err)
			}
		} else if !IsCorrupt(err) {
			t.Fatalf("error %v is not damage", err)
		}
	})
}
