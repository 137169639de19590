package testkit_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// Fetch sends a form with its headers and stops at a redirect.
func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("a") != "b c" || r.Header.Get("X-Test") != "1" {
			http.Error(w, "form or header lost", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
	}))
	defer srv.Close()
	resp, body := testkit.Fetch(t, "POST", srv.URL, url.Values{"a": {"b c"}}, http.Header{"X-Test": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("%d %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}
