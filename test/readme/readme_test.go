// Package readme checks the README against the clone it is in.
package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLinksResolve: every relative link of the README names a file or directory of the clone
// (a reader of a fresh clone follows them; one to ../shared would break).
func TestLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(string(data), -1)
	checked := 0
	for _, m := range links {
		target := m[1]
		if strings.HasPrefix(target, "#") || strings.Contains(target, "://") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		if strings.HasPrefix(filepath.Clean(target), "..") {
			t.Errorf("README links %s, outside the clone", m[1])
			continue
		}
		if _, err := os.Stat(filepath.Join(root, target)); err != nil {
			t.Errorf("README links %s: %v", m[1], err)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no relative link found: the pattern is wrong")
	}
}
