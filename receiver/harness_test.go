package receiver_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Secrets and repositories of the three endpoints every harness configures.
var endpoints = map[string]struct{ provider, repository, secret, event string }{
	"gh": {settings.GitHub, "acme/site", "gh-secret-0123456789", "push"},
	"gl": {settings.GitLab, "group/site", "gl-token-0123456789", "Push Hook"},
	"gg": {settings.Gogs, "tester/demo", "gogs-secret-0123456789", "push"},
	"gt": {settings.Gitea, "example/example", "gitea-secret-0123456789", "push"},
	"fj": {settings.Forgejo, "example/forgejo", "forgejo-secret-0123456789", "push"},
}

// harness is the real handler on httptest, a real runner with real gitsync,
// and a real upstream repository.
type harness struct {
	t       testing.TB
	dir     string
	up      *gitsynctest.Upstream
	set     *settings.Settings
	rn      *runner.Runner
	store   *jobstore.Store
	handler *receiver.Handler
	url     string
	logs    *bytes.Buffer

	mu      sync.Mutex
	results map[string]job.Record
	ran     []string // ids of jobs that ran, in the order they finished
}

type harnessOpts struct {
	remote  string // "path" (default) or "http"
	workers int
	queue   int
	maxBody int
	// branches is the YAML of each entry's branches: block; %[1]s is the
	// record file of the entry.
	branches string
	// extra is YAML added to each entry.
	extra string
	// top is YAML added at the top level.
	top string
	// quiet logs warnings only (benchmarks).
	quiet bool
}

const recordCommands = `
        commands:
          - 'echo "$WH_PROVIDER|$WH_EVENT|$WH_REF|$WH_BRANCH|$WH_SHA|$WH_BEFORE|$WH_DELIVERY|$WH_REPO|$WH_ENVIRONMENT|$WH_JOB" >> "$REC"'
          - ["sh", "-c", "echo second >> \"$REC\""]
        env: {REC: "%[1]s"}`

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), up: gitsynctest.NewUpstream(t), results: map[string]job.Record{},
		logs: &bytes.Buffer{}}
	remote := h.up.Path()
	if o.remote == "http" {
		remote = h.up.ServeHTTP(t)
	}
	if o.branches == "" {
		o.branches = "      main:" + recordCommands
	}
	var b strings.Builder
	if o.workers == 0 {
		o.workers = 2
	}
	if o.queue == 0 {
		o.queue = 64
	}
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nstate_dir: state\nworkers: %d\nqueue_size: %d\nkill_grace: 1s\n",
		o.workers, o.queue)
	if o.maxBody > 0 {
		fmt.Fprintf(&b, "max_body_bytes: %d\n", o.maxBody)
	}
	b.WriteString(o.top)
	level := "debug"
	if o.quiet {
		level = "warn"
	}
	fmt.Fprintf(&b, "log: {level: %s}\nrepos:\n", level)
	for name, e := range endpoints {
		fmt.Fprintf(&b, "  %s:\n    provider: %s\n    repository: %s\n    remote: %s\n    path: wc-%s\n    secret: %s\n    shared_path: true\n%s    branches:\n%s\n",
			name, e.provider, e.repository, remote, name, e.secret,
			strings.ReplaceAll(o.extra, "%[1]s", h.record(name)), strings.ReplaceAll(o.branches, "%[1]s", h.record(name)))
	}
	file := filepath.Join(h.dir, "settings.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := settings.Load(file, nil)
	if err != nil {
		t.Fatalf("settings:\n%s\n%v", b.String(), err)
	}
	h.set = set
	log := zerolog.New(zerolog.SyncWriter(h.logs)).Level(zerolog.DebugLevel)
	if o.quiet {
		log = log.Level(zerolog.WarnLevel)
	}
	if err := os.MkdirAll(set.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	h.rn = runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(log), Store: store, Logger: log, OnDone: h.done})
	h.handler = receiver.New(receiver.Options{Settings: set, Jobs: h.rn, Logger: log})
	srv := httptest.NewServer(h.handler)
	h.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		_ = h.rn.Close(ctx)
		_ = h.store.Close()
		h.noSecretInLogs()
	})
	return h
}

// noSecretInLogs fails the test if a secret reached the daemon's log or a
// job's log.
func (h *harness) noSecretInLogs() {
	logs := h.logs.String()
	jobLogs, _ := filepath.Glob(filepath.Join(h.set.StateDir, "jobs", "*.log"))
	for _, f := range jobLogs {
		b, _ := os.ReadFile(f)
		logs += string(b)
	}
	for _, e := range endpoints {
		if strings.Contains(logs, e.secret) {
			h.t.Errorf("secret %q appears in a log", e.secret)
		}
	}
}

// runs waits for every job of ids and returns how many ran to success; each
// of the others must have been superseded.
func (h *harness) runs(t testing.TB, ids []string) int {
	t.Helper()
	ran := 0
	for _, id := range ids {
		switch r := h.wait(id); r.State {
		case job.Succeeded:
			ran++
		case job.Superseded, job.Skipped:
		default:
			t.Errorf("job %s ended %s: %s", id, r.State, r.Error)
		}
	}
	return ran
}

// jobCount is how many job records the store holds.
func (h *harness) jobCount() int {
	recs, err := h.store.List(job.Filter{Limit: 1 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(recs)
}

func (h *harness) record(name string) string { return filepath.Join(h.dir, "rec-"+name) }

func (h *harness) workCopy(name string) string { return h.set.Repos[name].Path }

func (h *harness) done(r job.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results[r.Job.ID] = r
	if r.State != job.Superseded {
		h.ran = append(h.ran, r.Job.ID)
	}
}

// wait returns the result of job id, failing the test after 60 s.
func (h *harness) wait(id string) job.Record {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		r, ok := h.results[id]
		h.mu.Unlock()
		if ok {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("job %s did not finish; daemon log:\n%s", id, h.logs.String())
	return job.Record{}
}

// delivery is one request to send.
type delivery struct {
	endpoint string
	event    string // default: the endpoint's push event
	body     []byte
	id       string // delivery id; default: a fresh one
	secret   string // default: the endpoint's
	header   http.Header
}

var deliveryCount struct {
	sync.Mutex
	n int
}

func nextDeliveryID() string {
	deliveryCount.Lock()
	defer deliveryCount.Unlock()
	deliveryCount.n++
	return fmt.Sprintf("delivery-%d-%d", time.Now().UnixNano(), deliveryCount.n)
}

// signed builds the request a forge would send for d.
func (h *harness) signed(d delivery) *http.Request {
	h.t.Helper()
	e := endpoints[d.endpoint]
	if d.event == "" {
		d.event = e.event
	}
	if d.secret == "" {
		d.secret = e.secret
	}
	if d.id == "" {
		d.id = nextDeliveryID()
	}
	req, err := http.NewRequest(http.MethodPost, h.url+"/hooks/"+d.endpoint, bytes.NewReader(d.body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch e.provider {
	case settings.GitHub:
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", d.id)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(d.secret, d.body))
	case settings.GitLab:
		req.Header.Set("X-Gitlab-Event", d.event)
		req.Header.Set("X-Gitlab-Event-UUID", d.id)
		req.Header.Set("X-Gitlab-Token", d.secret)
	case settings.Gogs:
		req.Header.Set("X-Gogs-Event", d.event)
		req.Header.Set("X-Github-Event", d.event)
		req.Header.Set("X-Gogs-Delivery", d.id)
		req.Header.Set("X-Gogs-Signature", hmacHex(d.secret, d.body))
	case settings.Gitea, settings.Forgejo: // each with its own prefix alone
		prefix := map[string]string{settings.Gitea: "X-Gitea-", settings.Forgejo: "X-Forgejo-"}[e.provider]
		req.Header.Set(prefix+"Event", d.event)
		req.Header.Set(prefix+"Delivery", d.id)
		req.Header.Set(prefix+"Signature", hmacHex(d.secret, d.body))
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	return req
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// answer is a decoded response.
type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (h *harness) do(req *http.Request) answer {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		h.t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	if _, ok := a.body["status"]; !ok {
		h.t.Fatalf("answer %d has no status: %q", resp.StatusCode, raw)
	}
	return a
}

func (h *harness) send(d delivery) answer {
	h.t.Helper()
	return h.do(h.signed(d))
}

// payload reads testdata/file and sets each dotted path of set to its value.
func payload(t testing.TB, file string, set map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		keys := strings.Split(path, ".")
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

const zeroSHA = "0000000000000000000000000000000000000000"

// pushBody is a push delivery of endpoint name for branch moving before→after.
func pushBody(t testing.TB, name, branch, before, after string) []byte {
	t.Helper()
	ref := "refs/heads/" + branch
	switch endpoints[name].provider {
	case settings.GitHub:
		return payload(t, "github/push-branch.json", map[string]any{"ref": ref, "before": before,
			"after": after, "repository.full_name": endpoints[name].repository})
	case settings.GitLab:
		return payload(t, "gitlab/push-event.json", map[string]any{"ref": ref, "before": before,
			"after": after, "checkout_sha": after, "project.path_with_namespace": endpoints[name].repository})
	case settings.Gitea, settings.Forgejo:
		return payload(t, "gitea/push-event.json", map[string]any{"ref": ref, "before": before,
			"after": after, "repository.full_name": endpoints[name].repository})
	default:
		return payload(t, "gogs/push.json", map[string]any{"ref": ref, "before": before,
			"after": after, "repository.full_name": endpoints[name].repository})
	}
}

// head reads the commit the working copy's HEAD is at, with the git CLI.
func head(t testing.TB, dir string) string {
	t.Helper()
	b, err := runGit(dir, "rev-parse", "HEAD")
	if err != nil {
		t.Fatalf("rev-parse HEAD in %s: %v: %s", dir, err, b)
	}
	return strings.TrimSpace(string(b))
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
