package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/webhooks/v6/github"
	"github.com/go-playground/webhooks/v6/gitlab"

	"github.com/wh-gitd/wh-gitd/settings"
)

// event is one delivery in provider-free terms.
type event struct {
	kind        string // push or deployment; "" for anything ignored
	ignore      string // why nothing runs, when kind is ""
	delivery    string
	repository  string // owner/name as the payload says; "" when it has none
	ref         string // pushes: refs/heads/B
	deployRef   string // deployments: the ref as the deployment names it (branch, tag or SHA); may be ""
	branch      string
	environment string
	status      string // GitLab deployment status
	deployment  int64  // GitHub's deployment id; 0 otherwise
	before      string
	sha         string
	pusher      string
	sent        time.Time // when the forge says the push or deployment happened (GitHub); zero if unknown
}

// The SHA rule, the same as gitsync's: a commit is a full lowercase SHA-1.
// go-git v5 reads SHA-1 repositories only, so a SHA-256 commit (64 hex) is
// recognised and answered "ignored" with that reason, never queued to fail.
var (
	shaRE       = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	zeroSHARE   = regexp.MustCompile(`^0+$`)
	abbrevSHARE = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
)

// sha256Reason is why a delivery about a SHA-256 repository runs nothing.
const sha256Reason = "commit %s is a SHA-256 object name: SHA-256 repositories are not supported (go-git reads SHA-1 only)"

// errMissing marks a payload that decodes but lacks a field it must have.
var errMissing = errors.New("payload is missing a required field")

// decode reads a verified delivery body. An error means a malformed payload.
func decode(provider string, h http.Header, body []byte) (event, error) {
	switch provider {
	case settings.GitHub:
		return decodeGitHub(h, body)
	case settings.GitLab:
		return decodeGitLab(h, body)
	case settings.Gogs:
		return decodeGogs(h, body)
	}
	return event{}, fmt.Errorf("unknown provider %q", provider)
}

func decodeGitHub(h http.Header, body []byte) (event, error) {
	ev := event{delivery: h.Get("X-GitHub-Delivery")}
	name := h.Get("X-GitHub-Event")
	switch name {
	case "":
		return ev, fmt.Errorf("%w: no X-GitHub-Event header", errMissing)
	case string(github.PushEvent):
		var p githubPush
		if err := decodeMembers(body, &p, (*githubPush).members); err != nil {
			return ev, err
		}
		ev.repository, ev.pusher, ev.sent = p.Repository.FullName, p.Pusher.Name, p.Repository.PushedAt.Time
		return ev, ev.push(p.Ref, p.Before, p.After, p.Deleted)
	case string(github.DeploymentEvent):
		return decodeGitHubDeployment(ev, body)
	case string(github.PingEvent):
		var p github.PingPayload
		if err := unmarshal(body, &p); err != nil {
			return ev, err
		}
		ev.repository, ev.ignore = p.Repository.FullName, "ping"
		return ev, nil
	}
	ev.ignore = fmt.Sprintf("event %q is not handled", name)
	return ev, nil
}

// The push payloads are decoded into the few fields wh-gitd reads, named as
// in the webhooks library's PushPayload types (github.PushPayload,
// gitlab.PushEventPayload, go-gogs-client's PushPayload). Decoding a 7 KB
// GitHub push into the library's type costs 136 allocations and about 1.5x
// the CPU of these (bench: BenchmarkDecodePush), and it was the largest
// part of the daemon's CPU under load. Each one's members method names
// every field for decodeMembers.
type githubPush struct {
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository struct {
		FullName string     `json:"full_name"`
		PushedAt githubTime `json:"pushed_at"`
	} `json:"repository"`
	Pusher struct {
		Name string `json:"name"`
	} `json:"pusher"`
}

func (p *githubPush) members() []member {
	return []member{{name: "ref", str: &p.Ref}, {name: "before", str: &p.Before}, {name: "after", str: &p.After},
		{name: "deleted", flag: &p.Deleted},
		{name: "repository", obj: []member{{name: "full_name", str: &p.Repository.FullName},
			{name: "pushed_at", raw: &p.Repository.PushedAt}}},
		{name: "pusher", obj: []member{{name: "name", str: &p.Pusher.Name}}}}
}

// githubTime is a time as GitHub writes it: Unix seconds in push events,
// RFC 3339 elsewhere. Anything else decodes as the zero time, not as an
// error: the field matters only to max_delivery_age, which refuses a
// delivery without a time.
type githubTime struct{ time.Time }

func (t *githubTime) UnmarshalJSON(b []byte) error {
	t.Time = time.Time{}
	if s, err := strconv.Unquote(string(b)); err == nil {
		if v, err := time.Parse(time.RFC3339, s); err == nil {
			t.Time = v
		}
		return nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n > 0 {
		t.Time = time.Unix(n, 0)
	}
	return nil
}

type gitlabPush struct {
	Ref          string `json:"ref"`
	Before       string `json:"before"`
	After        string `json:"after"`
	UserUsername string `json:"user_username"`
	Project      struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

func (p *gitlabPush) members() []member {
	return []member{{name: "ref", str: &p.Ref}, {name: "before", str: &p.Before}, {name: "after", str: &p.After},
		{name: "user_username", str: &p.UserUsername},
		{name: "project", obj: []member{{name: "path_with_namespace", str: &p.Project.PathWithNamespace}}}}
}

type gogsPush struct {
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Pusher struct {
		UserName string `json:"username"`
	} `json:"pusher"`
}

func (p *gogsPush) members() []member {
	return []member{{name: "ref", str: &p.Ref}, {name: "before", str: &p.Before}, {name: "after", str: &p.After},
		{name: "repository", obj: []member{{name: "full_name", str: &p.Repository.FullName}}},
		{name: "pusher", obj: []member{{name: "username", str: &p.Pusher.UserName}}}}
}

// githubDeployment is the part of GitHub's deployment event wh-gitd reads.
// The library's DeploymentPayload types deployment.payload as an empty struct,
// so a deployment created with a string payload would not decode.
type githubDeployment struct {
	Deployment struct {
		ID          int64      `json:"id"`
		SHA         string     `json:"sha"`
		Ref         string     `json:"ref"`
		Environment string     `json:"environment"`
		CreatedAt   githubTime `json:"created_at"`
		Creator     struct {
			Login string `json:"login"`
		} `json:"creator"`
	} `json:"deployment"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

func decodeGitHubDeployment(ev event, body []byte) (event, error) {
	var p githubDeployment
	if err := unmarshal(body, &p); err != nil {
		return ev, err
	}
	d := p.Deployment
	ev.repository, ev.pusher = p.Repository.FullName, d.Creator.Login
	ev.environment, ev.sha, ev.sent, ev.deployRef = d.Environment, d.SHA, d.CreatedAt.Time, d.Ref
	ev.deployment = d.ID
	if sha256RE.MatchString(d.SHA) {
		ev.ignore = fmt.Sprintf(sha256Reason, d.SHA)
		return ev, nil
	}
	if d.Environment == "" || !shaRE.MatchString(d.SHA) {
		return ev, fmt.Errorf("%w: deployment needs an environment and a full sha", errMissing)
	}
	ev.kind = "deployment"
	return ev, nil
}

func decodeGitLab(h http.Header, body []byte) (event, error) {
	ev := event{delivery: h.Get("Idempotency-Key")}
	if ev.delivery == "" {
		ev.delivery = h.Get("X-Gitlab-Event-UUID")
	}
	name := h.Get("X-Gitlab-Event")
	switch name {
	case "":
		return ev, fmt.Errorf("%w: no X-Gitlab-Event header", errMissing)
	case string(gitlab.PushEvents), string(gitlab.SystemHookEvents):
		var p gitlabPush
		if err := decodeMembers(body, &p, (*gitlabPush).members); err != nil {
			return ev, err
		}
		if name == string(gitlab.SystemHookEvents) && !isSystemPush(body) {
			ev.ignore = "system hook event other than push"
			return ev, nil
		}
		ev.repository, ev.pusher = p.Project.PathWithNamespace, p.UserUsername
		return ev, ev.push(p.Ref, p.Before, p.After, false)
	case string(gitlab.DeploymentEvents):
		return decodeGitLabDeployment(ev, body)
	}
	ev.ignore = fmt.Sprintf("event %q is not handled", name)
	return ev, nil
}

func isSystemPush(body []byte) bool {
	var k struct {
		EventName  string `json:"event_name"`
		ObjectKind string `json:"object_kind"`
	}
	_ = json.Unmarshal(body, &k)
	return k.EventName == "push" || k.ObjectKind == "push"
}

// decodeGitLabDeployment takes the full commit from commit_url: the payload
// carries only a short SHA besides it, and no ref.
func decodeGitLabDeployment(ev event, body []byte) (event, error) {
	var p struct {
		gitlab.DeploymentEventPayload
		// Ref is the branch or tag deployed; older GitLab versions leave it out.
		Ref string `json:"ref"`
	}
	if err := unmarshal(body, &p); err != nil {
		return ev, err
	}
	ev.kind, ev.repository, ev.pusher = "deployment", p.Project.PathWithNamespace, p.User.UserName
	ev.environment, ev.status, ev.deployRef = p.Environment, p.Status, p.Ref
	ev.branch = p.Project.DefaultBranch
	full := p.CommitUrl[strings.LastIndexByte(p.CommitUrl, '/')+1:]
	if sha256RE.MatchString(full) {
		ev.kind, ev.ignore = "", fmt.Sprintf(sha256Reason, full)
		return ev, nil
	}
	if p.Environment == "" || !shaRE.MatchString(full) || p.ShortSha == "" || !strings.HasPrefix(full, p.ShortSha) {
		return ev, fmt.Errorf("%w: deployment needs an environment and a commit_url naming its short_sha", errMissing)
	}
	ev.sha = full
	return ev, nil
}

func decodeGogs(h http.Header, body []byte) (event, error) {
	ev := event{delivery: gogsHeader(h, "Delivery")}
	name := gogsHeader(h, "Event")
	switch name {
	case "":
		return ev, fmt.Errorf("%w: no X-Gogs-Event (or X-Gitea-, X-Forgejo-) header", errMissing)
	case "push":
		var p gogsPush
		if err := decodeMembers(body, &p, (*gogsPush).members); err != nil {
			return ev, err
		}
		ev.repository, ev.pusher = p.Repository.FullName, p.Pusher.UserName
		return ev, ev.push(p.Ref, p.Before, p.After, false)
	}
	ev.ignore = fmt.Sprintf("event %q is not handled", name)
	return ev, nil
}

// push fills a push event, or the reason to ignore it (tags, deletions).
func (ev *event) push(ref, before, after string, deleted bool) error {
	if ref == "" || after == "" {
		return fmt.Errorf("%w: push needs ref and after", errMissing)
	}
	if deleted || zeroSHARE.MatchString(after) {
		ev.ignore = "deletion of " + ref
		return nil
	}
	branch, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		ev.ignore = "ref " + ref + " is not a branch"
		return nil
	}
	if sha256RE.MatchString(after) {
		ev.ignore = fmt.Sprintf(sha256Reason, after)
		return nil
	}
	if !shaRE.MatchString(after) {
		return fmt.Errorf("%w: push names no full commit", errMissing)
	}
	ev.kind, ev.ref, ev.branch, ev.before, ev.sha = "push", ref, branch, before, after
	return nil
}

func unmarshal(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return nil
}
