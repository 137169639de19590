package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// payloadSize is the size of every push delivery the harness sends: a
// realistic GitHub push of a few commits is 7 KB of compact JSON.
const payloadSize = 7 << 10

// push says what a delivery is about.
type push struct {
	repository string // owner/name, as configured for the entry
	ref        string // refs/heads/B
	before     string
	after      string
}

// pushPayload builds a GitHub push delivery body shaped like the real ones
// (repository with its URL templates, pusher, sender, two commits and the
// head commit), padded to exactly payloadSize bytes in the head commit's
// message.
func pushPayload(p push) ([]byte, error) {
	owner, name, _ := strings.Cut(p.repository, "/")
	body := map[string]any{
		"ref": p.ref, "before": p.before, "after": p.after,
		"created": false, "deleted": false, "forced": false, "base_ref": nil,
		"compare":    "https://github.com/" + p.repository + "/compare/" + p.before[:12] + "..." + p.after[:12],
		"repository": repository(owner, name),
		"pusher":     map[string]any{"name": owner, "email": owner + "@users.noreply.github.com"},
		"sender":     user(owner),
		"commits": []any{
			commit(p.repository, owner, p.before, "Update the deployment notes", []string{"docs/deploy.md"}),
			commit(p.repository, owner, p.after, "", []string{"src/app/server.go", "src/app/handlers.go"}),
		},
	}
	head := commit(p.repository, owner, p.after, "", []string{"src/app/server.go", "src/app/handlers.go"})
	body["head_commit"] = head
	out, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	pad := payloadSize - len(out)
	if pad < 0 {
		return nil, fmt.Errorf("push payload is %d bytes, over %d", len(out), payloadSize)
	}
	head["message"] = padding(pad)
	return json.Marshal(body)
}

// padding is n bytes of commit-message text that JSON does not escape.
func padding(n int) string {
	const words = "Refactor the request handlers and tidy the deployment scripts. "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

func repository(owner, name string) map[string]any {
	full := owner + "/" + name
	api := "https://api.github.com/repos/" + full
	r := map[string]any{
		"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": name, "full_name": full,
		"private": false, "owner": user(owner), "html_url": "https://github.com/" + full,
		"description": "A web application deployed by wh-gitd", "fork": false, "url": api,
		"created_at": 1557933565, "updated_at": "2024-05-15T15:20:41Z", "pushed_at": 1715786441,
		"git_url": "git://github.com/" + full + ".git", "ssh_url": "git@github.com:" + full + ".git",
		"clone_url": "https://github.com/" + full + ".git", "svn_url": "https://github.com/" + full,
		"homepage": nil, "size": 48213, "stargazers_count": 12, "watchers_count": 12, "language": "Go",
		"has_issues": true, "has_downloads": true, "has_wiki": false, "has_pages": false,
		"forks_count": 3, "mirror_url": nil, "open_issues_count": 4, "forks": 3, "open_issues": 4,
		"watchers": 12, "default_branch": "main", "master_branch": "main", "visibility": "private",
	}
	for _, u := range []string{"forks", "keys{/key_id}", "collaborators{/collaborator}", "teams", "hooks",
		"issues/events{/number}", "events", "assignees{/user}", "branches{/branch}", "tags",
		"git/blobs{/sha}", "git/tags{/sha}", "git/refs{/sha}", "git/trees{/sha}", "statuses/{sha}",
		"languages", "stargazers", "contributors", "subscribers", "subscription", "commits{/sha}",
		"git/commits{/sha}", "comments{/number}", "issues/comments{/number}", "contents/{+path}",
		"compare/{base}...{head}", "merges", "{archive_format}{/ref}", "downloads", "issues{/number}",
		"pulls{/number}", "milestones{/number}", "labels{/name}", "releases{/id}", "deployments"} {
		key, _, _ := strings.Cut(u, "{")
		key = strings.ReplaceAll(strings.TrimSuffix(key, "/"), "/", "_")
		r[key+"_url"] = api + "/" + u
	}
	return r
}

func user(login string) map[string]any {
	u := map[string]any{"login": login, "id": 21031067, "node_id": "MDQ6VXNlcjIxMDMxMDY3",
		"avatar_url": "https://avatars.githubusercontent.com/u/21031067?v=4", "gravatar_id": "",
		"url": "https://api.github.com/users/" + login, "html_url": "https://github.com/" + login,
		"type": "User", "site_admin": false}
	for _, k := range []string{"followers", "following{/other_user}", "gists{/gist_id}",
		"starred{/owner}{/repo}", "subscriptions", "orgs", "repos", "events{/privacy}", "received_events"} {
		key, _, _ := strings.Cut(k, "{")
		u[key+"_url"] = "https://api.github.com/users/" + login + "/" + k
	}
	return u
}

func commit(full, owner, sha, msg string, modified []string) map[string]any {
	who := map[string]any{"name": owner, "email": owner + "@users.noreply.github.com", "username": owner}
	return map[string]any{"id": sha, "tree_id": sha, "distinct": true, "message": msg,
		"timestamp": "2024-05-15T15:19:25Z", "url": "https://github.com/" + full + "/commit/" + sha,
		"author": who, "committer": who, "added": []string{}, "removed": []string{}, "modified": modified}
}

// signer signs bodies as GitHub does: X-Hub-Signature-256 is the hex
// HMAC-SHA256 of the raw body with the entry's secret.
type signer struct{ secret []byte }

func (s signer) signature(body []byte) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// hookHeaders are what GitHub sends with every push delivery besides its
// id and signature (both clients of the load generator send these).
var hookHeaders = [][2]string{
	{"Content-Type", "application/json"},
	{"User-Agent", "GitHub-Hookshot/bench"},
	{"X-GitHub-Event", "push"},
	{"X-GitHub-Hook-ID", "481516"},
}

// sigOf is sig, or the signature of body when sig is empty.
func (s signer) sigOf(body []byte, sig string) string {
	if sig == "" {
		return s.signature(body)
	}
	return sig
}

// headers sets what GitHub sends with a push delivery.
func (s signer) headers(h http.Header, body []byte, sig, delivery string) {
	for _, kv := range hookHeaders {
		h.Set(kv[0], kv[1])
	}
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-Hub-Signature-256", s.sigOf(body, sig))
}

// deliveryID makes a unique, UUID-shaped delivery id from a run number and
// a sequence number.
func deliveryID(run uint32, seq uint64) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", run, uint16(seq>>48), uint16(seq>>36)&0xfff,
		uint16(seq>>24)&0xfff, seq&0xffffffffffff)
}
