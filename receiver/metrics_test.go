package receiver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/settings"
)

// /metrics is off without a token or an allow list, and with them is
// served only to a scraper with the token, from an allowed address (told
// through trusted proxies as for deliveries).
func TestMetricsGuard(t *testing.T) {
	const tok = "metrics-token-0123456789"
	served := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	cases := []struct {
		name    string
		metrics settings.Metrics
		handler http.Handler
		remote  string
		xff     string
		auth    string
		want    int
	}{
		{"off", settings.Metrics{}, served, "127.0.0.1:1", "", "", http.StatusNotFound},
		{"no handler", settings.Metrics{Token: tok}, nil, "127.0.0.1:1", "", "Bearer " + tok, http.StatusNotFound},
		{"token", settings.Metrics{Token: tok}, served, "203.0.113.9:1", "", "Bearer " + tok, http.StatusOK},
		{"no token", settings.Metrics{Token: tok}, served, "127.0.0.1:1", "", "", http.StatusUnauthorized},
		{"wrong token", settings.Metrics{Token: tok}, served, "127.0.0.1:1", "", "Bearer x" + tok, http.StatusUnauthorized},
		{"allowed", settings.Metrics{Allow: cidrs(t, "10.0.0.0/8")}, served, "10.1.2.3:1", "", "", http.StatusOK},
		{"not allowed", settings.Metrics{Allow: cidrs(t, "10.0.0.0/8")}, served, "203.0.113.9:1", "", "", http.StatusForbidden},
		{"allowed through the proxy", settings.Metrics{Allow: cidrs(t, "10.0.0.0/8")}, served, "127.0.0.1:1",
			"10.1.2.3", "", http.StatusOK},
		{"forged header from an untrusted peer", settings.Metrics{Allow: cidrs(t, "10.0.0.0/8")}, served,
			"203.0.113.9:1", "10.1.2.3", "", http.StatusForbidden},
		{"both, token missing", settings.Metrics{Token: tok, Allow: cidrs(t, "10.0.0.0/8")}, served, "10.1.2.3:1",
			"", "", http.StatusUnauthorized},
		{"both, address refused", settings.Metrics{Token: tok, Allow: cidrs(t, "10.0.0.0/8")}, served,
			"203.0.113.9:1", "", "Bearer " + tok, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := &settings.Settings{Metrics: tc.metrics, TrustedProxies: cidrs(t, "127.0.0.1"),
				Repos: map[string]*settings.Repo{}}
			h := New(Options{Settings: set, Logger: zerolog.Nop(), Metrics: tc.handler})
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("GET /metrics: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.want == http.StatusOK && w.Body.String() != "ok\n" {
				t.Errorf("body %q", w.Body)
			}
		})
	}
}

// recorder is an Observer that keeps what it is told.
type recorder struct{ got []string }

func (r *recorder) Delivery(repo, provider, outcome string) {
	r.got = append(r.got, repo+"/"+provider+"/"+outcome)
}

// Answers refused before the body is read reach the observer too, with
// the entry's name only when the name is an entry.
func TestObserverSeesRefusals(t *testing.T) {
	set := &settings.Settings{MaxBodyBytes: 1 << 20, Allow: cidrs(t, "10.0.0.0/8"),
		Repos: map[string]*settings.Repo{"site": {Name: "site", Provider: settings.GitLab, Secret: "s"}}}
	cases := []struct {
		name, method, path, remote, ctype, want string
	}{
		{"address refused, entry", http.MethodPost, "/hooks/site", "203.0.113.9:1", "application/json", "site/gitlab/forbidden"},
		{"address refused, stranger", http.MethodPost, "/hooks/x1", "203.0.113.9:1", "application/json", "//forbidden"},
		{"unknown name", http.MethodPost, "/hooks/x2", "10.0.0.1:1", "application/json", "//not_found"},
		{"method", http.MethodGet, "/hooks/site", "10.0.0.1:1", "", "site/gitlab/method_not_allowed"},
		{"content type", http.MethodPost, "/hooks/site", "10.0.0.1:1", "text/plain", "site/gitlab/unsupported_media_type"},
		{"no token", http.MethodPost, "/hooks/site", "10.0.0.1:1", "application/json", "site/gitlab/unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := New(Options{Settings: set, Logger: zerolog.Nop(), Observer: rec})
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.RemoteAddr = tc.remote
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if len(rec.got) != 1 || rec.got[0] != tc.want {
				t.Errorf("observed %v, want [%s]", rec.got, tc.want)
			}
		})
	}
}
