package testkit_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

const receiverTestdata = "../../receiver/testdata"

// A GitHub request carries the body as given and a signature that an
// HMAC computed here, apart from testkit, accepts.
func TestGitHubRequestVerifies(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	req := testkit.Delivery{Provider: settings.GitHub, URL: "http://127.0.0.1/hooks/site", Body: body,
		Secret: "gh-secret-0123456789"}.Request(t)
	got, err := io.ReadAll(req.Body)
	if err != nil || string(got) != string(body) || req.ContentLength != int64(len(body)) || req.Method != http.MethodPost {
		t.Fatalf("%s body %q (%d bytes declared), %v", req.Method, got, req.ContentLength, err)
	}
	m := hmac.New(sha256.New, []byte("gh-secret-0123456789"))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if sig := req.Header.Get("X-Hub-Signature-256"); !hmac.Equal([]byte(sig), []byte(want)) {
		t.Errorf("signature %s, want %s", sig, want)
	}
	if req.Header.Get("X-GitHub-Event") != "push" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", req.Header)
	}
}

func TestDeliveryHeaders(t *testing.T) {
	body := []byte(`{}`)
	sig := testkit.HMACHex(testkit.Secret, body)
	cases := []struct {
		provider string
		want     map[string]string // "" : the header is there, any value
	}{
		{settings.GitHub, map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "", "X-Hub-Signature-256": "sha256=" + sig}},
		{settings.GitLab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "", "X-Gitlab-Token": testkit.Secret}},
		{settings.Gogs, map[string]string{"X-Gogs-Event": "push", "X-Github-Event": "push", "X-Gogs-Delivery": "", "X-Gogs-Signature": sig}},
		{settings.Gitea, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "", "X-Gitea-Signature": sig}},
		{settings.Forgejo, map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "", "X-Forgejo-Signature": sig}},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			d := testkit.Delivery{Provider: tc.provider, Body: body}
			h, again := d.Headers(), d.Headers()
			if len(h) != len(tc.want)+1 {
				t.Errorf("%d headers, want %d: %v", len(h), len(tc.want)+1, h)
			}
			for k, v := range tc.want {
				if got := h.Get(k); got == "" || v != "" && got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
				if strings.HasSuffix(k, "Delivery") || strings.HasSuffix(k, "UUID") {
					if h.Get(k) == again.Get(k) {
						t.Errorf("two deliveries share the id %s", h.Get(k))
					}
				}
			}
		})
	}
	h := testkit.Delivery{Provider: settings.GitHub, ID: "d1", Event: "ping",
		Header: http.Header{"x-hub-signature-256": {"sha256=00"}}}.Headers()
	if h.Get("X-GitHub-Delivery") != "d1" || h.Get("X-GitHub-Event") != "ping" || h.Get("X-Hub-Signature-256") != "sha256=00" {
		t.Errorf("given id, event and header not kept: %v", h)
	}
	defer func() {
		if recover() == nil {
			t.Error("a delivery of an unknown provider did not panic")
		}
	}()
	testkit.Delivery{Provider: "bitbucket"}.Headers()
}

func TestPushBody(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	cases := []struct{ provider, repoKey string }{
		{settings.GitHub, "repository"}, {settings.GitLab, "project"}, {settings.Gogs, "repository"},
		{settings.Gitea, "repository"}, {settings.Forgejo, "repository"},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			body := testkit.PushBody(t, receiverTestdata, tc.provider,
				testkit.Push{Ref: "refs/heads/dev", After: sha, Repository: "acme/site"})
			var doc struct {
				Ref, Before, After string
				Repository         struct {
					FullName string `json:"full_name"`
				}
				Project struct {
					PathWithNamespace string `json:"path_with_namespace"`
				}
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			repo := map[string]string{"repository": doc.Repository.FullName, "project": doc.Project.PathWithNamespace}[tc.repoKey]
			if doc.Ref != "refs/heads/dev" || doc.Before != testkit.ZeroSHA || doc.After != sha || repo != "acme/site" {
				t.Errorf("push body %+v", doc)
			}
		})
	}
}

// Payload keeps the numbers of the file as written and makes missing objects.
func TestPayload(t *testing.T) {
	body := testkit.Payload(t, receiverTestdata, "github/push-branch.json", map[string]any{"new.key": 1})
	if !strings.Contains(string(body), `"id":186853002,`) || !strings.Contains(string(body), `"new":{"key":1}`) {
		t.Errorf("payload: %.300s", body)
	}
}

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/text" {
			io.WriteString(w, "plain")
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"queued","job":"j1"}`)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/json", nil)
	if a := testkit.MustDo(t, req); a.Code != http.StatusAccepted || a.Str("job") != "j1" || a.Str("none") != "" {
		t.Errorf("answer %+v", a)
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/text", nil)
	if a, err := testkit.Do(req); err == nil || a.Raw != "plain" {
		t.Errorf("a text answer: %+v, %v; want an error", a, err)
	}
}
