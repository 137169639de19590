//go:build hostile

package receiver_test

import (
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// rawPush is the captured push delivery of endpoint name (gh, gl or gg),
// each dotted path of set set, that names repo as its repository.
func rawPush(t testing.TB, name, repo string, set map[string]any) []byte {
	t.Helper()
	set = maps.Clone(set)
	set[map[string]string{"gh": "repository.full_name", "gl": "project.path_with_namespace", "gg": "repository.full_name"}[name]] = repo
	file := map[string]string{"gh": "github/push-branch.json", "gl": "gitlab/push-event.json", "gg": "gogs/push.json"}[name]
	return testkit.Payload(t, "", file, set)
}

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
		maps.Copy(body, set)
		return rawPush(t, name, endpoints[name].repository, body)
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
		for _, name := range forges {
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

// hostileBranches are branch names git accepts that a shell would run
// (spelt with ${IFS}: git refuses spaces in ref names), option-like names,
// a name of 255 bytes and non-ASCII names.
var hostileBranches = []string{
	"x$(touch${IFS}C)", "x`touch${IFS}C`", "x;touch${IFS}C", "x|touch${IFS}C", "x&&touch${IFS}C",
	"x>C", "$(touch${IFS}C)", `x'$(touch${IFS}C)'`, `x"$(touch${IFS}C)"`,
	"--upload-pack=touch${IFS}C", "-rf", "-", "--",
	strings.Repeat("b", 255), "ünïcödé/ブランチ", "emoji-🚀",
}

// branchAt points branch at sha in the upstream. A 255-byte name cannot be
// a loose ref there (its lock file name would be 260 bytes), so every name
// is written to packed-refs, as git does for old refs.
func branchAt(t *testing.T, up *gitsynctest.Upstream, branch, sha string) {
	t.Helper()
	packed := filepath.Join(up.Path(), "packed-refs")
	testkit.WriteFile(t, packed, testkit.ReadIfExists(packed)+sha+" refs/heads/"+branch+"\n")
}

// Branch names that are shell syntax, configured and pushed, reach the
// commands only as data ($WH_BRANCH): each is deployed at its commit and
// the canary never appears.
func TestHostileBranchNames(t *testing.T) {
	var branches strings.Builder
	for _, n := range hostileBranches {
		fmt.Fprintf(&branches, "      %q:\n        commands: ['printf \"%%s\\n\" \"$WH_BRANCH\" >> \"$REC\"', [printf, '%%s\\n', ok]]\n        env: {REC: \"%%[1]s\"}\n", n)
	}
	h := newHarness(t, harnessOpts{workers: 4, branches: strings.TrimRight(branches.String(), "\n")})
	base := h.up.Commit(t, "seed", map[string]string{"f": "seed"}, "seed")
	var wg sync.WaitGroup
	for i, n := range hostileBranches {
		sha := h.up.CommitTree(t, "seed", h.up.Git(t, "rev-parse", base+"^{tree}"), fmt.Sprintf("evil %d", i))
		branchAt(t, h.up, n, sha)
		for _, name := range forges {
			a := h.push(name, n, testkit.ZeroSHA, sha)
			if a.Code != http.StatusAccepted {
				t.Fatalf("%s %q: answer %d %s", name, n, a.Code, a.Raw)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := h.wait(a.Str("job")); r.State != job.Succeeded {
					t.Errorf("%s %q: job %s: %s", name, n, r.State, r.Error)
				}
			}()
		}
		wg.Wait() // one branch at a time: each job must find its own commit
		for _, name := range forges {
			if got := testkit.Head(t, h.workCopy(name)); got != sha {
				t.Errorf("%s %q: working copy at %s, want %s", name, n, got, sha)
			}
		}
	}
	for _, name := range forges {
		rec := strings.Split(testkit.ReadFile(t, h.record(name)), "\n")
		for _, n := range hostileBranches {
			if !slices.Contains(rec, n) {
				t.Errorf("%s: WH_BRANCH %q not seen as data by the commands:\n%s", name, n, rec)
			}
		}
	}
	noCanary(t, h.dir, ".", h.up.Path()) // "." is the test's folder
}

// A delivery naming another repository than its endpoint's, by traversal,
// by another endpoint's name or with hidden characters, is refused 403.
func TestHostileRepositoryNames(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	cases := []struct {
		name string
		repo func(endpoint string) string
	}{
		{"parent traversal", func(string) string { return "../../etc" }},
		{"traversal after the name", func(e string) string { return endpoints[e].repository + "/../../etc" }},
		{"absolute path", func(string) string { return "/etc/passwd" }},
		{"another endpoint's repository", func(e string) string {
			return map[string]string{"gh": "group/site", "gl": "tester/demo", "gg": "acme/site"}[e]
		}},
		{"trailing NUL", func(e string) string { return endpoints[e].repository + "\x00" }},
		{"trailing space", func(e string) string { return endpoints[e].repository + " " }},
		{"trailing slash", func(e string) string { return endpoints[e].repository + "/" }},
		{"Unicode look-alike", func(e string) string { return strings.Replace(endpoints[e].repository, "s", "ѕ", 1) }},
	}
	for _, tc := range cases {
		for _, e := range forges {
			t.Run(tc.name+"/"+endpoints[e].provider, func(t *testing.T) {
				a := h.send(e, testkit.Delivery{Body: rawPush(t, e, tc.repo(e), map[string]any{"ref": "refs/heads/main", "after": c1})})
				if a.Code != http.StatusForbidden {
					t.Errorf("answer %d %s, want 403", a.Code, a.Raw)
				}
			})
		}
	}
	h.noJobs(t)
}

// URLs in a payload are never fetched: a delivery whose clone URLs say
// ext::sh -c touch C (or point elsewhere) is deployed from the configured
// remote, the working copy's origin stays the configured remote, and the
// canary never appears.
func TestHostilePayloadURLsAreNeverUsed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	evil := []string{"ext::sh -c touch% C", "--upload-pack=touch C", "file:///etc", "http://127.0.0.1:1/x.git",
		"ssh://-oProxyCommand=touch%20C/x"}
	fields := map[string][]string{
		"gh": {"repository.clone_url", "repository.url", "repository.git_url", "repository.ssh_url",
			"repository.svn_url", "repository.html_url", "repository.mirror_url"},
		"gl": {"project.git_http_url", "project.git_ssh_url", "project.url", "project.http_url",
			"project.ssh_url", "repository.url", "repository.git_http_url", "repository.git_ssh_url"},
		"gg": {"repository.clone_url", "repository.ssh_url", "repository.html_url", "repository.website"},
	}
	for i, url := range evil {
		for _, e := range forges {
			t.Run(fmt.Sprintf("%s/%d", endpoints[e].provider, i), func(t *testing.T) {
				set := map[string]any{"ref": "refs/heads/main", "before": testkit.ZeroSHA, "after": c1}
				for _, f := range fields[e] {
					set[f] = url
				}
				a := h.send(e, testkit.Delivery{Body: rawPush(t, e, endpoints[e].repository, set)})
				if a.Code != http.StatusAccepted {
					t.Fatalf("answer %d %s", a.Code, a.Raw)
				}
				// The same commit each time: later pushes find it deployed.
				if r := h.wait(a.Str("job")); r.State != job.Succeeded && r.State != job.Skipped {
					t.Fatalf("job %s: %s", r.State, r.Error)
				}
				if got := testkit.Git(t, h.workCopy(e), "remote", "get-url", "origin"); got != h.up.Path() {
					t.Errorf("origin = %q, want the configured remote %s", got, h.up.Path())
				}
			})
		}
	}
	noCanary(t, h.dir, ".", h.up.Path()) // "." is the test's folder
}

// Files a shell would create if payload data ever reached one.
var canaries = []string{"C", "CANARY"}

// noCanary fails the test if a canary file exists under any of dirs.
func noCanary(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				for _, c := range canaries {
					if d.Name() == c {
						t.Errorf("canary created: %s", p)
					}
				}
			}
			return nil
		})
	}
}
