package ui

import (
	"testing"
	"time"
)

// Each of the writer's methods escapes its value for its place in the
// page as html/template does there, whatever the bytes.
func TestWriterEscapes(t *testing.T) {
	text := func(w *writer, s string) { w.text(s) }
	part := func(w *writer, s string) { w.part(s) }
	url := func(w *writer, s string) { w.url(s) }
	cases := []struct {
		name  string
		write func(*writer, string)
		in    string
		want  string
	}{
		{"text empty", text, "", ""},
		{"text plain", text, "deploy site", "deploy site"},
		{"text markup", text, "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"text quotes", text, `"' onmouseover=x`, "&#34;&#39; onmouseover=x"},
		{"text reference stays text", text, "&amp;", "&amp;amp;"},
		{"text plus", text, "a+b", "a&#43;b"},
		{"text NUL", text, "a\x00b", "a\uFFFDb"},
		{"text multi-byte", text, "Jürgen ✓ 日本", "Jürgen ✓ 日本"},
		{"text not UTF-8", text, "a\xff<\xc3", "a\xff&lt;\xc3"},
		{"text controls", text, "a\tb\nc\rd", "a\tb\nc\rd"},
		{"part empty", part, "", ""},
		{"part unreserved", part, "Site-1.2_x~", "Site-1.2_x~"},
		{"part reserved", part, "a b?c&d#e/f=g+h:i;j,k@l%", "a%20b%3fc%26d%23e%2ff%3dg%2bh%3ai%3bj%2ck%40l%25"},
		{"part markup", part, `<"'>`, "%3c%22%27%3e"},
		{"part NUL", part, "\x00", "%00"},
		{"part multi-byte", part, "ü✓", "%c3%bc%e2%9c%93"},
		{"part not UTF-8", part, "\xff", "%ff"},
		{"url empty", url, "", ""},
		{"url relative", url, "/jobs?before=1a&entry=site&state=failed", "/jobs?before=1a&amp;entry=site&amp;state=failed"},
		{"url https", url, "https://deploy.example.com/jobs/1a#log", "https://deploy.example.com/jobs/1a#log"},
		{"url http upper case", url, "HTTP://x.example/", "HTTP://x.example/"},
		{"url mailto", url, "mailto:ops@example.com", "mailto:ops@example.com"},
		{"url javascript", url, "javascript:alert(1)", "#ZgotmplZ"},
		{"url javascript mixed case", url, "JavaScript:alert(1)", "#ZgotmplZ"},
		{"url javascript after a space", url, " javascript:alert(1)", "#ZgotmplZ"},
		{"url data", url, "data:text/html,<b>", "#ZgotmplZ"},
		{"url colon in the path", url, "/jobs/a:b", "/jobs/a:b"},
		{"url quotes and markup", url, `/a"'<b> c()`, "/a%22%27%3cb%3e%20c%28%29"},
		{"url plus", url, "/a?b=c+d", "/a?b=c&#43;d"},
		{"url escapes kept", url, "/a%2Fb%zz%4", "/a%2Fb%25zz%254"},
		{"url NUL", url, "/a\x00", "/a%00"},
		{"url multi-byte", url, "/ü", "/%c3%bc"},
		{"url not UTF-8", url, "/\xff", "/%ff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w writer
			w.put("[")
			tc.write(&w, tc.in)
			w.put("]")
			if got := w.b.String(); got != "["+tc.want+"]" {
				t.Errorf("%q: got %q, want %q", tc.in, got, "["+tc.want+"]")
			}
		})
	}
}

// Numbers and times need no escaping; they are written as the page shows
// them.
func TestWriterNumbersAndTimes(t *testing.T) {
	cases := []struct {
		name  string
		write func(*writer)
		want  string
	}{
		{"zero", func(w *writer) { w.num(0) }, "0"},
		{"negative", func(w *writer) { w.num(-1) }, "-1"},
		{"large", func(w *writer) { w.num(1 << 40) }, "1099511627776"},
		{"time", func(w *writer) { w.time(time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))) },
			`<time datetime="2024-05-06 06:08:09Z">2024-05-06 06:08:09Z</time>`},
		{"no time", func(w *writer) { w.time(time.Time{}) }, `<time datetime=""></time>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w writer
			tc.write(&w)
			if got := w.b.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
