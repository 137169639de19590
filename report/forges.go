package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// GitHubAPIVersion is the REST API version wh-gitd speaks to GitHub.
const GitHubAPIVersion = "2022-11-28"

// errGone marks a message whose entry or target left the settings.
var errGone = errors.New("no longer in the settings")

// githubHeaders sets the headers of every GitHub API request.
func githubHeaders(h http.Header, token string) {
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", GitHubAPIVersion)
	h.Set("Authorization", "Bearer "+token)
}

// cred is how a status request authenticates: a fixed token, or an App's
// installation whose token is minted.
type cred struct {
	token string
	app   *app
}

// statusCred returns the credentials of an entry's status block.
func statusCred(repo *settings.Repo) cred {
	st := repo.Status
	if st.App() {
		return cred{app: &app{apiURL: st.APIURL, appID: st.AppID, installationID: st.InstallationID, key: st.PrivateKey}}
	}
	return cred{token: st.Token}
}

// statusRequest builds the request of a deployment or commit status.
func statusRequest(ctx context.Context, repo *settings.Repo, b body, token string) (*http.Request, error) {
	u, v := statusBody(trimSlash(repo.Status.APIURL), b)
	raw, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	switch b.Forge {
	case settings.GitHub:
		githubHeaders(req.Header, token)
	case settings.GitLab:
		req.Header.Set("PRIVATE-TOKEN", token)
	default:
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "token "+token)
	}
	return req, nil
}

// statusBody returns the URL under api and the JSON body of a status.
func statusBody(api string, b body) (string, any) {
	switch {
	case b.Kind == kindDeployment:
		return fmt.Sprintf("%s/repos/%s/deployments/%d/statuses", api, repoPath(b.Repository), b.Deployment),
			struct {
				State          string `json:"state"`
				LogURL         string `json:"log_url,omitempty"`
				TargetURL      string `json:"target_url,omitempty"`
				Description    string `json:"description"`
				EnvironmentURL string `json:"environment_url,omitempty"`
			}{b.State, b.TargetURL, b.TargetURL, b.Description, b.EnvironmentURL}
	case b.Forge == settings.GitLab:
		return fmt.Sprintf("%s/projects/%s/statuses/%s", api, url.PathEscape(b.Repository), b.SHA),
			struct {
				State       string `json:"state"`
				Ref         string `json:"ref,omitempty"`
				Name        string `json:"name"`
				TargetURL   string `json:"target_url,omitempty"`
				Description string `json:"description"`
			}{b.State, b.Ref, b.Context, b.TargetURL, b.Description}
	}
	// GitHub, Gitea and Forgejo commit statuses
	return fmt.Sprintf("%s/repos/%s/statuses/%s", api, repoPath(b.Repository), b.SHA),
		struct {
			State       string `json:"state"`
			TargetURL   string `json:"target_url,omitempty"`
			Description string `json:"description"`
			Context     string `json:"context"`
		}{b.State, b.TargetURL, b.Description, b.Context}
}

// notifyRequest builds the request of a notification.
func notifyRequest(ctx context.Context, n *settings.Notify, b body) (*http.Request, error) {
	raw := notifyBody(n.Type, b)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("notify url does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	if n.Type == "webhook" {
		req.Header.Set("X-Wh-Gitd-Event", b.State)
		if n.Secret != "" {
			req.Header.Set(SignatureHeader, Sign(n.Secret, raw))
		}
	}
	return req, nil
}

// repoPath escapes each part of owner/name for a URL path.
func repoPath(repository string) string {
	parts := strings.Split(repository, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// answerError is a forge's or target's answer other than success.
type answerError struct {
	code   int
	header http.Header
	msg    string
}

func (e *answerError) Error() string { return e.msg }

// answerText is the start of an answer's body, for the record: GitHub's
// and GitLab's "message", or the text itself.
func answerText(b []byte) string {
	var v struct {
		Message any `json:"message"`
	}
	if json.Unmarshal(b, &v) == nil && v.Message != nil {
		return clip(fmt.Sprint(v.Message), 200)
	}
	return clip(strings.TrimSpace(string(b)), 200)
}
