package gitsynctest

import (
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ServeHTTP serves the repository over git's smart HTTP protocol (git
// http-backend behind net/http/cgi) on 127.0.0.1 and returns its URL, for
// example http://127.0.0.1:34567/upstream.git. The server is closed at
// t.Cleanup. (Despite the name, Upstream is not an http.Handler.)
func (u *Upstream) ServeHTTP(t testing.TB) string {
	t.Helper()
	return u.serve(t, u.backend(t))
}

// ServeHTTPAuth is ServeHTTP behind HTTP basic auth: requests without the
// given username and password get 401 with a WWW-Authenticate challenge.
func (u *Upstream) ServeHTTPAuth(t testing.TB, username, password string) string {
	t.Helper()
	return u.ServeHTTPCheck(t, func(user, pass string) bool { return equal(user, username) && equal(pass, password) })
}

// ServeHTTPCheck is ServeHTTP behind HTTP basic auth whose credentials
// check accepts (tokens that change, such as minted ones).
func (u *Upstream) ServeHTTPCheck(t testing.TB, check func(username, password string) bool) string {
	t.Helper()
	backend := u.backend(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !check(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitsynctest"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
	return u.serve(t, h)
}

// ServeHTTPWrapped is ServeHTTP with the git backend wrapped by wrap (to
// watch, count or alter what the server answers) and env added to the
// backend's environment (for example GIT_TRACE_PACKET=/some/file, which
// traces the server side of the protocol).
func (u *Upstream) ServeHTTPWrapped(t testing.TB, wrap func(http.Handler) http.Handler, env ...string) string {
	t.Helper()
	return u.serve(t, wrap(u.backend(t, env...)))
}

func (u *Upstream) serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(u.dir)
}

// backend is git http-backend exporting the directory that holds u.dir.
func (u *Upstream) backend(t testing.TB, extra ...string) http.Handler {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	env := append(gitEnv(u.home),
		"GIT_PROJECT_ROOT="+filepath.Dir(u.dir),
		"GIT_HTTP_EXPORT_ALL=1",
	)
	env = append(env, extra...)
	return &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Root: "/",
		Env:  env,
	}
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
