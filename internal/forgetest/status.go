package forgetest

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

var (
	githubDeployPath = regexp.MustCompile(`^/repos/[^/]+/[^/]+/deployments/[0-9]+/statuses$`)
	githubCommitPath = regexp.MustCompile(`^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$`)
	gitlabPath       = regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/[0-9a-f]{40}$`)
	giteaPath        = regexp.MustCompile(`^/api/v1/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$`)

	deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
	githubStates     = []string{"pending", "success", "failure", "error"}
	gitlabStates     = []string{"pending", "running", "success", "failed", "canceled", "skipped"}
	giteaStates      = []string{"pending", "success", "error", "failure", "warning"}
	// gitlabEvents names the transition GitLab's message gives each state.
	gitlabEvents = map[string]string{"pending": "enqueue", "running": "run", "success": "succeed",
		"failed": "drop", "canceled": "cancel", "skipped": "skip"}
)

// status checks a status request as the forge does.
func (s *Server) status(c *Call) Answer {
	if c.Method != http.MethodPost {
		return refuse(c, http.StatusNotFound, "method %s: statuses are created with POST", c.Method)
	}
	if ua := c.Header.Get("User-Agent"); !strings.HasPrefix(ua, "wh-gitd/") {
		return refuse(c, http.StatusForbidden, "User-Agent must be wh-gitd/<version> (got %q)", ua)
	}
	if ct := c.Header.Get("Content-Type"); ct != "application/json" {
		return refuse(c, http.StatusUnsupportedMediaType, "Content-Type must be application/json (got %q)", ct)
	}
	switch s.Forge {
	case GitHub:
		return s.github(c)
	case GitLab:
		return s.gitlab(c)
	}
	return s.gitea(c)
}

func (s *Server) github(c *Call) Answer {
	if a, ok := s.githubAuth(c); !ok {
		return a
	}
	if v := c.Header.Get("Accept"); v != "application/vnd.github+json" {
		return refuse(c, http.StatusUnsupportedMediaType, "Accept must be application/vnd.github+json (got %q)", v)
	}
	if v := c.Header.Get("X-GitHub-Api-Version"); v != "2022-11-28" {
		return refuse(c, http.StatusBadRequest, "X-GitHub-Api-Version must be 2022-11-28 (got %q)", v)
	}
	switch {
	case githubDeployPath.MatchString(c.Path):
		if a, ok := fields(c, deploymentStates, 140, "state", "target_url", "log_url", "description",
			"environment", "environment_url", "auto_inactive"); !ok {
			return a
		}
		for _, k := range []string{"log_url", "target_url", "environment_url"} {
			if v, ok := c.Body[k]; ok && !absURL(v) {
				return refuse(c, http.StatusUnprocessableEntity, "%s must be an absolute URL (got %v)", k, v)
			}
		}
		if c.Body["log_url"] != c.Body["target_url"] {
			return refuse(c, http.StatusUnprocessableEntity, "log_url and target_url differ")
		}
	case githubCommitPath.MatchString(c.Path):
		if a, ok := fields(c, githubStates, 140, "state", "target_url", "description", "context"); !ok {
			return a
		}
		if str(c.Body, "context") == "" {
			return refuse(c, http.StatusUnprocessableEntity, "context is empty")
		}
		if s.count(c.Path, str(c.Body, "context")) >= 1000 {
			return refuse(c, http.StatusUnprocessableEntity, "this SHA and context has reached the maximum number of statuses")
		}
	default:
		return refuse(c, http.StatusNotFound, "no such route")
	}
	return created(c)
}

// githubAuth accepts the server's token or a live App installation token.
func (s *Server) githubAuth(c *Call) (Answer, bool) {
	token, ok := strings.CutPrefix(c.Header.Get("Authorization"), "Bearer ")
	switch {
	case ok && token == s.Token && token != "":
		return Answer{}, true
	case ok && s.app != nil && s.app.Live(token):
		return Answer{}, true
	case ok && s.app != nil && s.app.issued(token):
		// An expired installation token: GitHub's answer, not a broken contract.
		return Answer{Code: http.StatusUnauthorized, Body: `{"message":"Bad credentials"}`}, false
	}
	return refuse(c, http.StatusUnauthorized, "Authorization must be Bearer and a valid token"), false
}

func (s *Server) gitlab(c *Call) Answer {
	if v := c.Header.Get("PRIVATE-TOKEN"); v != s.Token || v == "" {
		return refuse(c, http.StatusUnauthorized, "PRIVATE-TOKEN must be the project's token")
	}
	m := gitlabPath.FindStringSubmatch(c.Path)
	if m == nil {
		return refuse(c, http.StatusNotFound, "no such route (the project path must be URL-encoded)")
	}
	if p, err := url.PathUnescape(m[1]); err != nil || !strings.Contains(p, "/") {
		return refuse(c, http.StatusNotFound, "project %q is not an encoded namespace/path", m[1])
	}
	if a, ok := fields(c, gitlabStates, 255, "state", "ref", "name", "context", "target_url", "description",
		"coverage", "pipeline_id"); !ok {
		return a
	}
	if str(c.Body, "name") == "" {
		return refuse(c, http.StatusBadRequest, "name is empty")
	}
	s.mu.Lock()
	cur := s.current[c.Path+" "+str(c.Body, "name")]
	s.mu.Unlock()
	if st := c.State(); cur == st {
		msg := fmt.Sprintf(`{"message":"Cannot transition status via :%s from :%s"}`, gitlabEvents[st], cur)
		return Answer{Code: http.StatusBadRequest, Body: msg}
	}
	return created(c)
}

func (s *Server) gitea(c *Call) Answer {
	if v := c.Header.Get("Authorization"); v != "token "+s.Token || s.Token == "" {
		return refuse(c, http.StatusUnauthorized, "Authorization must be token and the access token")
	}
	if !giteaPath.MatchString(c.Path) {
		return refuse(c, http.StatusNotFound, "no such route")
	}
	if a, ok := fields(c, giteaStates, 255, "state", "target_url", "description", "context"); !ok {
		return a
	}
	return created(c)
}

// fields checks a body's keys, its state and its description's length.
func fields(c *Call, states []string, maxDescription int, allowed ...string) (Answer, bool) {
	for k := range c.Body {
		if !slices.Contains(allowed, k) {
			return refuse(c, http.StatusUnprocessableEntity, "unknown field %q", k), false
		}
	}
	if st := c.State(); !slices.Contains(states, st) {
		return refuse(c, http.StatusUnprocessableEntity, "state must be one of %s (got %q)", strings.Join(states, ", "), st), false
	}
	if d, ok := c.Body["description"].(string); ok && utf8.RuneCountInString(d) > maxDescription {
		return refuse(c, http.StatusUnprocessableEntity, "description is longer than %d characters (%d)",
			maxDescription, utf8.RuneCountInString(d)), false
	}
	return Answer{}, true
}

func absURL(v any) bool {
	s, _ := v.(string)
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != ""
}

// count is how many statuses path and context were answered 201.
func (s *Server) count(path, context string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Path == path && str(c.Body, "context") == context && c.Code == http.StatusCreated {
			n++
		}
	}
	return n
}
