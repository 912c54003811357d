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

// FuzzAddWords checks that Counts.AddWords counts what Add counts for each word of the plainest
// definition, with a small Limit so that it also flushes along the way.
func FuzzAddWords(f *testing.F) {
	for _, s := range []string{"", "the cat the CAT the\n", "café café naïve", "a\xffa a\xc3", "ǅǅ ﬁ ١٢٣ 日本語 日本語"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		emit := func(add func(c *Counts, e *Emitter) error) string {
			var b strings.Builder
			o := newOutput(&b)
			e := &Emitter{o: o}
			c := Counts{Limit: limit}
			if err := add(&c, e); err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(e); err != nil {
				t.Fatal(err)
			}
			if err := o.flush(); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		got := emit(func(c *Counts, e *Emitter) error { return c.AddWords([]byte(s), 2, e) })
		want := emit(func(c *Counts, e *Emitter) error {
			for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
				if err := c.Add([]byte(w), 2, e); err != nil {
					return err
				}
			}
			return nil
		})
		if got != want {
			t.Errorf("AddWords(%q) emitted %q, Add of each word %q", s, got, want)
		}
	})
}
