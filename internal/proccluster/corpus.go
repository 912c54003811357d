package proccluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dlbp/dlbp/internal/corpus"
)

// WriteCorpus writes files files of size bytes each of corpus.Generate text (seeds seed,
// seed+1, …) into dir as text-00.txt, text-01.txt, … and returns their paths.
func WriteCorpus(dir string, files int, size, seed int64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("text-%02d.txt", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		err = corpus.Generate(w, size, seed+int64(i))
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("proccluster: generating %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
