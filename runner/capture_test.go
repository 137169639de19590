package runner

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestCapWriter(t *testing.T) {
	cases := []struct {
		name       string
		head, tail int
		writes     []string
		want       string
	}{
		{"under the head", 10, 5, []string{"abc", "def"}, "abcdef"},
		{"head then tail, nothing cut", 3, 5, []string{"abcdef"}, "abcdef"},
		{"cut in the middle", 3, 3, []string{"abc", "1234", "xyz"}, "abc\n[... 4 bytes cut ...]\nxyz"},
		{"one big write", 2, 2, []string{"0123456789"}, "01\n[... 6 bytes cut ...]\n89"},
		{"many small writes wrap the ring", 1, 3, strings.Split("abcdefgh", ""), "a\n[... 4 bytes cut ...]\nfgh"},
		{"no tail", 2, 0, []string{"abcd"}, "ab\n[... 2 bytes cut ...]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			c := newCapWriter(&b, tc.head, tc.tail)
			for _, w := range tc.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

func BenchmarkCapWriter(b *testing.B) {
	c := newCapWriter(&bytes.Buffer{}, 1<<10, 1<<20)
	line := []byte(fmt.Sprintf("%80s\n", "x"))
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = c.Write(line)
	}
}
