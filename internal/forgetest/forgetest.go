// Package forgetest holds contract servers for the forge APIs wh-gitd
// posts statuses to (GitHub's deployment and commit statuses and App
// installation tokens, GitLab's and Gitea's commit statuses) and a
// recorder for notify targets. Each server checks every request as the
// real API does (method, path, headers, body fields and their allowed
// values, lengths, the token), records it, and answers as the API
// answers, or as the test scripts it (422, 403 with Retry-After, 429,
// 5xx, a hang). Tests only.
package forgetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Forges a Server plays.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea"
)

// Call is one request the server received, as it checked it.
type Call struct {
	Method string
	// Path is the escaped path, as sent.
	Path   string
	Header http.Header
	Body   map[string]any
	// Code is the status the server answered.
	Code int
	// Problems lists how the request broke the contract; empty when it kept it.
	Problems []string
}

// State is the body's "state".
func (c Call) State() string { s, _ := c.Body["state"].(string); return s }

// String renders the call as method, path and body.
func (c Call) String() string {
	b, _ := json.Marshal(c.Body)
	return fmt.Sprintf("%s %s %s -> %d", c.Method, c.Path, b, c.Code)
}

// Answer is a scripted answer: its status, headers and body.
type Answer struct {
	Code   int
	Header map[string]string
	Body   string
}

// Server is a contract server for one forge. Make it with New; point a
// status block's api_url at APIURL.
type Server struct {
	Forge string
	// Token is the access token it accepts (GitHub: besides the App's).
	Token string
	// APIURL is the base URL of the API (GitLab: /api/v4; Gitea: /api/v1).
	APIURL string
	// Script, if set, may answer a status request in place of the
	// forge's answer (nil: answer as the forge). It may block to hang.
	Script func(c Call, n int) *Answer

	srv *httptest.Server
	t   testing.TB
	app *App

	mu    sync.Mutex
	calls []Call
	// current is GitLab's state of each sha and name.
	current map[string]string
}

// New starts a contract server for forge, accepting token; it stops when
// the test ends.
func New(t testing.TB, forge, token string) *Server {
	s := &Server{Forge: forge, Token: token, t: t, current: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.APIURL = s.srv.URL + map[string]string{GitHub: "", GitLab: "/api/v4", Gitea: "/api/v1"}[forge]
	return s
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// States returns the states of the status requests answered with a
// success, in order.
func (s *Server) States() []string {
	var out []string
	for _, c := range s.Calls() {
		if c.Code/100 == 2 && c.State() != "" {
			out = append(out, c.State())
		}
	}
	return out
}

// Check fails the test for every request that broke the contract.
func (s *Server) Check(t testing.TB) {
	t.Helper()
	for _, c := range s.Calls() {
		for _, p := range c.Problems {
			t.Errorf("%s %s: %s", c.Method, c.Path, p)
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c := Call{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone()}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.Body); err != nil {
			c.Problems = append(c.Problems, "body is not a JSON object: "+err.Error())
		}
	}
	var a Answer
	if s.app != nil && strings.HasPrefix(c.Path, "/app/") {
		a = s.app.serve(&c, r)
	} else {
		a = s.status(&c)
	}
	s.mu.Lock()
	n := len(s.calls)
	s.mu.Unlock()
	if len(c.Problems) == 0 && s.Script != nil && !strings.HasPrefix(c.Path, "/app/") {
		if sa := s.Script(c, n); sa != nil {
			a = *sa
		}
	}
	c.Code = a.Code
	s.mu.Lock()
	s.calls = append(s.calls, c)
	if a.Code/100 == 2 && s.Forge == GitLab {
		s.current[c.Path+" "+str(c.Body, "name")] = c.State()
	}
	s.mu.Unlock()
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.Code)
	io.WriteString(w, a.Body)
}

// refuse records a problem and answers as the forge does.
func refuse(c *Call, code int, format string, args ...any) Answer {
	msg := fmt.Sprintf(format, args...)
	c.Problems = append(c.Problems, msg)
	b, _ := json.Marshal(map[string]string{"message": msg})
	return Answer{Code: code, Body: string(b)}
}

func str(m map[string]any, k string) string { v, _ := m[k].(string); return v }

func created(c *Call) Answer {
	c.Body["created_at"] = time.Now().UTC().Format(time.RFC3339)
	b, _ := json.Marshal(c.Body)
	delete(c.Body, "created_at")
	return Answer{Code: http.StatusCreated, Body: string(b)}
}
