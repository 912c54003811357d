package sdk

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

// FuzzWords checks Words against the plainest definition: strings.FieldsFunc on non-letters,
// which decodes invalid UTF-8 as U+FFFD, not a letter.
func FuzzWords(f *testing.F) {
	for _, s := range []string{"", "The cat; the CAT.\r\n", "café naïve Straße", "12ab\xffcd", "\xc3", "a\xc3", "ǅ ﬁ ١٢٣ 日本語",
		"\xef\xbf\xbd", "x\xe2\x82", "@[`{", "_a_", "Ωmega"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got []string
		for w := range Words([]byte(s)) {
			got = append(got, string(w))
		}
		want := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
		if !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", s, got, want)
		}
	})
}
