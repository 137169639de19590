package ui

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// markup is HTML that the page's code writes as it is. A constant converts
// to it by itself, a string variable only by a conversion in plain sight,
// so a value from a record or a request cannot reach a page unescaped by
// accident: it has to go through one of writer's escaping methods.
type markup string

// writer builds a page. put writes markup; every other method escapes its
// value for the place it goes, as html/template would there. The methods
// return the writer, so that a line of the page reads as one chain.
type writer struct{ b bytes.Buffer }

// put writes m as it is.
func (w *writer) put(m markup) *writer {
	w.b.WriteString(string(m))
	return w
}

// text writes s as element text or as a quoted attribute's value: & < > "
// ' and + become character references and NUL becomes U+FFFD; every other
// byte, even one that is not UTF-8, is written as it is.
func (w *writer) text(s string) *writer {
	done := 0
	for i := 0; i < len(s); i++ {
		if s[i] > '>' { // past every byte escaped: most letters
			continue
		}
		if ref := textRef(s[i]); ref != "" {
			w.b.WriteString(s[done:i])
			w.b.WriteString(ref)
			done = i + 1
		}
	}
	w.b.WriteString(s[done:])
	return w
}

// textRef is what text writes for byte c, "" for c itself.
func textRef(c byte) string {
	switch c {
	case 0:
		return "\uFFFD"
	case '"':
		return "&#34;"
	case '&':
		return "&amp;"
	case '\'':
		return "&#39;"
	case '+':
		return "&#43;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return ""
}

// num writes n in decimal.
func (w *writer) num(n int) *writer {
	var b [20]byte
	w.b.Write(strconv.AppendInt(b[:0], int64(n), 10))
	return w
}

// part writes s as one part of a URL, a path segment or a query value:
// every byte but ASCII letters, digits and - . _ ~ is percent-encoded
// (with lowercase hex digits, as html/template writes them). What it
// writes needs no escaping in an attribute.
func (w *writer) part(s string) *writer {
	for i := 0; i < len(s); i++ {
		if c := s[i]; unreserved(c) {
			w.b.WriteByte(c)
		} else {
			w.percent(c)
		}
	}
	return w
}

// url writes s as a whole URL in a quoted attribute. A relative URL, or
// one whose scheme is http, https or mailto, is written with the bytes a
// URL cannot hold percent-encoded (a valid %XX escape is kept) and & and +
// escaped for the attribute; any other, such as javascript:alert(1), is
// replaced with #ZgotmplZ, as html/template replaces it.
func (w *writer) url(s string) *writer {
	if !safeURL(s) {
		return w.put("#ZgotmplZ")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&' || c == '+':
			w.b.WriteString(textRef(c))
		case unreserved(c) || strings.IndexByte("!#$*,/:;=?@[]", c) >= 0,
			c == '%' && i+2 < len(s) && hexDigit(s[i+1]) && hexDigit(s[i+2]):
			w.b.WriteByte(c)
		default:
			w.percent(c)
		}
	}
	return w
}

// percent writes c as %xx.
func (w *writer) percent(c byte) {
	const hex = "0123456789abcdef"
	w.b.Write([]byte{'%', hex[c>>4], hex[c&15]})
}

// time writes t as a time element, in UTC.
func (w *writer) time(t time.Time) *writer {
	at := when(t)
	return w.put(`<time datetime="`).text(at).put(`">`).text(at).put(`</time>`)
}

// safeURL reports whether URL s is relative or its scheme is http, https
// or mailto.
func safeURL(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(scheme, "/") {
		return true
	}
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") ||
		strings.EqualFold(scheme, "mailto")
}

// unreserved reports whether c stands for itself in every part of a URL.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func hexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
