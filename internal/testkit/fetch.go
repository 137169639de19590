package testkit

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Fetch sends a request to rawURL with header, its body form encoded as a
// form when form is not nil, and returns the answer (its body read and
// closed) and its body. It does not follow redirects, so that a test sees
// where a page sends the browser.
func Fetch(t testing.TB, method, rawURL string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, rawURL, err)
	}
	return resp, string(b)
}
