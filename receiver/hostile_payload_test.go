//go:build hostile

package receiver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// Correctly signed payloads that are malformed, absurdly nested, of the
// wrong shape or missing what a push needs get 400 (or 200 ignored when
// they are well-formed but name nothing to do), never a panic and never a
// job. Each provider is fed each case.
func TestHostilePayloads(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	nested := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	nestedObj := strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000)
	withRef := func(name string, set map[string]any) []byte {
		body := map[string]any{"ref": "refs/heads/main", "after": c1, "before": testkit.ZeroSHA}
		for k, v := range set {
			body[k] = v
		}
		file := map[string]string{"gh": "github/push-branch.json", "gl": "gitlab/push-event.json", "gg": "gogs/push.json"}[name]
		repo := map[string]string{"gh": "repository.full_name", "gl": "project.path_with_namespace", "gg": "repository.full_name"}[name]
		body[repo] = endpoints[name].repository
		return testkit.Payload(t, "", file, body)
	}
	cases := []struct {
		name string
		body func(endpoint string) []byte
		code int
	}{
		{"empty body", func(string) []byte { return nil }, http.StatusBadRequest},
		{"truncated JSON", func(string) []byte { return []byte(`{"ref":"refs/heads/main","after":`) }, http.StatusBadRequest},
		{"not JSON", func(string) []byte { return []byte("ref=refs/heads/main") }, http.StatusBadRequest},
		{"JSON array", func(string) []byte { return []byte(`[1,2,3]`) }, http.StatusBadRequest},
		{"JSON string", func(string) []byte { return []byte(`"push"`) }, http.StatusBadRequest},
		{"JSON null", func(string) []byte { return []byte(`null`) }, http.StatusBadRequest},
		{"invalid UTF-8", func(string) []byte { return []byte("{\"ref\":\"\xff\xfe\"}") }, http.StatusBadRequest},
		{"100000 nested arrays", func(string) []byte { return []byte(`{"ref":` + nested + `}`) }, http.StatusBadRequest},
		{"20000 nested objects", func(string) []byte { return []byte(nestedObj) }, http.StatusBadRequest},
		{"two JSON values", func(n string) []byte { return append(withRef(n, nil), []byte(`{}`)...) }, http.StatusBadRequest},
		{"ref missing", func(n string) []byte { return withRef(n, map[string]any{"ref": nil}) }, http.StatusBadRequest},
		{"ref empty", func(n string) []byte { return withRef(n, map[string]any{"ref": ""}) }, http.StatusBadRequest},
		{"ref a number", func(n string) []byte { return withRef(n, map[string]any{"ref": 7}) }, http.StatusBadRequest},
		{"ref an object", func(n string) []byte { return withRef(n, map[string]any{"ref": map[string]any{}}) }, http.StatusBadRequest},
		{"after missing", func(n string) []byte { return withRef(n, map[string]any{"after": nil}) }, http.StatusBadRequest},
		{"after short", func(n string) []byte { return withRef(n, map[string]any{"after": c1[:7]}) }, http.StatusBadRequest},
		{"after not hex", func(n string) []byte {
			return withRef(n, map[string]any{"after": strings.Repeat("g", 40)})
		}, http.StatusBadRequest},
		{"after a refspec", func(n string) []byte {
			return withRef(n, map[string]any{"after": "+refs/heads/main:refs/heads/x"})
		}, http.StatusBadRequest},
		{"after upper-case hex", func(n string) []byte {
			return withRef(n, map[string]any{"after": strings.ToUpper(c1)})
		}, http.StatusBadRequest},
		{"ref outside refs/heads", func(n string) []byte {
			return withRef(n, map[string]any{"ref": "refs/remotes/origin/main"})
		}, http.StatusOK},
		{"ref of another branch by traversal", func(n string) []byte {
			return withRef(n, map[string]any{"ref": "refs/heads/../heads/main"})
		}, http.StatusOK},
		{"ref main without refs/heads", func(n string) []byte { return withRef(n, map[string]any{"ref": "main"}) }, http.StatusOK},
	}
	for _, tc := range cases {
		for _, name := range []string{"gh", "gl", "gg"} {
			t.Run(tc.name+"/"+endpoints[name].provider, func(t *testing.T) {
				a := h.send(name, testkit.Delivery{Body: tc.body(name)})
				if a.Code != tc.code {
					t.Fatalf("answer %d %s, want %d", a.Code, a.Raw, tc.code)
				}
				if tc.code == http.StatusOK && a.Str("status") != "ignored" {
					t.Errorf("answer %s, want ignored", a.Raw)
				}
			})
		}
	}
	h.noJobs(t)
	if strings.Contains(h.logs.String(), "panic") {
		t.Errorf("the log mentions a panic:\n%s", h.logs.String())
	}
}
