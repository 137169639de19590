package testkit

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// ZeroSHA is the all-zero SHA-1 a push that creates a branch names as before.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Delivery is one webhook delivery as a forge sends it.
type Delivery struct {
	Provider string // settings.GitHub, GitLab, Gogs, Gitea or Forgejo
	URL      string // the endpoint, such as server.URL + "/hooks/site"
	Event    string // default: the provider's push event
	ID       string // delivery id (default: a new random one)
	Secret   string // the HMAC key or GitLab token (default Secret)
	Body     []byte
	// Header is set last, each key replacing the forge's header of that name.
	Header http.Header
}

// Request builds the POST the forge would send for d.
func (d Delivery) Request(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = d.Headers()
	return req
}

// Headers returns the headers the forge would send with d: its content
// type, event, delivery id and signature or token. Gogs also sends its
// event as X-Github-Event; Gitea and Forgejo here send their own prefix
// alone. It panics on an unknown provider, and needs no testing.TB, so it
// may build requests off the test's goroutine.
func (d Delivery) Headers() http.Header {
	event := cmp.Or(d.Event, "push")
	if d.Provider == settings.GitLab {
		event = cmp.Or(d.Event, "Push Hook")
	}
	id, secret := cmp.Or(d.ID, rand.Text()), cmp.Or(d.Secret, Secret)
	h := http.Header{"Content-Type": {"application/json"}}
	switch d.Provider {
	case settings.GitHub:
		h.Set("X-GitHub-Event", event)
		h.Set("X-GitHub-Delivery", id)
		h.Set("X-Hub-Signature-256", "sha256="+HMACHex(secret, d.Body))
	case settings.GitLab:
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Event-UUID", id)
		h.Set("X-Gitlab-Token", secret)
	case settings.Gogs, settings.Gitea, settings.Forgejo:
		prefix := map[string]string{settings.Gogs: "X-Gogs-", settings.Gitea: "X-Gitea-",
			settings.Forgejo: "X-Forgejo-"}[d.Provider]
		h.Set(prefix+"Event", event)
		h.Set(prefix+"Delivery", id)
		h.Set(prefix+"Signature", HMACHex(secret, d.Body))
		if d.Provider == settings.Gogs {
			h.Set("X-Github-Event", event)
		}
	default:
		panic(fmt.Sprintf("testkit: delivery of unknown provider %q", d.Provider))
	}
	for k, v := range d.Header {
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

// HMACHex is the hex HMAC-SHA256 of body under secret: GitHub's signature
// after "sha256=", and the Gogs, Gitea and Forgejo signature.
func HMACHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Payload reads the JSON object in dir/file (dir "" is testdata), sets
// each dotted path of set ("repository.full_name") to its value, making
// the objects on the way, and returns the JSON. Numbers keep their text.
func Payload(t testing.TB, dir, file string, set map[string]any) []byte {
	t.Helper()
	path := filepath.Join(cmp.Or(dir, "testdata"), file)
	doc := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(ReadFile(t, path)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("payload %s: %v", path, err)
	}
	for p, v := range set {
		keys := strings.Split(p, ".")
		m := doc
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = v
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Push is what a push delivery says.
type Push struct {
	Ref        string // refs/heads/main
	Before     string // default ZeroSHA
	After      string
	Repository string // the forge's owner/name
}

// PushBody is the push payload of provider for p, made from the receiver's
// captured deliveries in dir (dir "" is testdata): github/push-branch.json,
// gitlab/push-event.json, gogs/push.json, gitea/push-event.json (Gitea and
// Forgejo).
func PushBody(t testing.TB, dir, provider string, p Push) []byte {
	t.Helper()
	set := map[string]any{"ref": p.Ref, "before": cmp.Or(p.Before, ZeroSHA), "after": p.After,
		"repository.full_name": p.Repository}
	file := map[string]string{settings.GitHub: "github/push-branch.json", settings.GitLab: "gitlab/push-event.json",
		settings.Gogs: "gogs/push.json", settings.Gitea: "gitea/push-event.json",
		settings.Forgejo: "gitea/push-event.json"}[provider]
	if file == "" {
		t.Fatalf("push body: unknown provider %q", provider)
	}
	if provider == settings.GitLab {
		delete(set, "repository.full_name")
		set["checkout_sha"], set["project.path_with_namespace"] = p.After, p.Repository
	}
	return Payload(t, dir, file, set)
}

// Answer is a response whose body is a JSON object.
type Answer struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Str is the string at key of the body, or "".
func (a Answer) Str(key string) string {
	s, _ := a.Body[key].(string)
	return s
}

// Do sends req with http.DefaultClient and decodes the answer. It fails
// when the request fails or the body is not a JSON object, and may be
// called from any goroutine.
func Do(req *http.Request) (Answer, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := Answer{Code: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err != nil {
		return a, fmt.Errorf("read answer %d: %w", a.Code, err)
	}
	if err := json.Unmarshal(raw, &a.Body); err != nil || a.Body == nil {
		return a, fmt.Errorf("answer %d is not a JSON object: %q", a.Code, raw)
	}
	return a, nil
}

// MustDo is Do, failing the test on error.
func MustDo(t testing.TB, req *http.Request) Answer {
	t.Helper()
	a, err := Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return a
}
