// Package e2e tests dlbp end to end: it builds the real binaries, starts a cluster of them as
// processes on loopback, and compares what the client prints with the plain sequential
// programs of internal/reference, byte for byte (DESIGN.md, "How it is tested", point 3).
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/internal/reference"
)

// Set once by TestMain, read-only afterwards.
var (
	binDir     string   // holds maplb, reducelb, node and dlbp, built from this module
	texts      []string // the text inputs of the wordcount checks
	textsKind  string   // which inputs those are, for the log
	wantWords  []byte   // reference.WordCount(texts)
	scratchDir string   // TestMain's own temporary directory
)

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	root, err := proccluster.ModuleRoot()
	if err != nil {
		return 0, err
	}
	scratchDir, err = os.MkdirTemp("", "dlbp-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(scratchDir)

	binDir = filepath.Join(scratchDir, "bin")
	if err := proccluster.Build(root, binDir); err != nil {
		return 0, err
	}
	if err := buildPrograms(root); err != nil {
		return 0, err
	}

	texts, textsKind, err = textInputs(root)
	if err != nil {
		return 0, err
	}
	var want bytes.Buffer
	if err := reference.WordCount(texts, &want); err != nil {
		return 0, fmt.Errorf("reference wordcount: %w", err)
	}
	wantWords = want.Bytes()
	return m.Run(), nil
}

// textInputs returns the Gutenberg texts next to the module when they are there, else a
// deterministic generated corpus of 4 files of 1 MiB in the scratch directory.
func textInputs(root string) ([]string, string, error) {
	dir := filepath.Join(root, "..", "shared", "data", "gutenberg")
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, "", err
	}
	if len(paths) > 0 {
		return paths, fmt.Sprintf("%d Gutenberg texts from %s", len(paths), dir), nil
	}
	gen := filepath.Join(scratchDir, "corpus")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return nil, "", err
	}
	for i := range 4 {
		p := filepath.Join(gen, fmt.Sprintf("text-%d.txt", i))
		if err := writeFile(p, func(f *os.File) error { return corpus.Generate(f, 1<<20, int64(i+1)) }); err != nil {
			return nil, "", fmt.Errorf("generating %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, fmt.Sprintf("4 generated files of 1 MiB (corpus.Generate, seeds 1..4; %s absent)", dir), nil
}

// writeFile creates path and fills it with fill.
func writeFile(path string, fill func(f *os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
