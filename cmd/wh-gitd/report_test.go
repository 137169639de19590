package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

const forgeToken = "ghp_forge-token-never-logged-0123"

// deployFile is settings whose entry site deploys environment production
// from remote with commands, posting statuses to srv.
func deployFile(t *testing.T, dir, remote string, srv *forgetest.Server, top string, commands ...string) string {
	testkit.WriteFile(t, filepath.Join(dir, "forge-token"), forgeToken+"\n")
	f := testkit.File{Top: "api: {token: " + token + "}\npublic_url: https://deploy.example.com\n" + top,
		Repos: []testkit.Repo{{Remote: remote,
			Extra: fmt.Sprintf("status: {api_url: %q, token_file: forge-token}", srv.APIURL),
			Environments: []testkit.Target{{Name: "production", Branch: "main", Commands: commands,
				Extra: "url: https://www.example.com"}}}}}
	return f.Write(t, dir)
}

// deploymentOf is GitHub's deployment event for deployment id of sha.
func deploymentOf(t *testing.T, id int64, sha string) testkit.Delivery {
	body := testkit.Payload(t, "../../receiver/testdata", "github/deployment.json", map[string]any{
		"deployment.id": id, "deployment.sha": sha, "deployment.ref": "main",
		"deployment.environment": "production", "repository.full_name": "acme/site"})
	return testkit.Delivery{Provider: settings.GitHub, URL: "/hooks/site", Event: "deployment", Body: body}
}

// deploy sends deployment id of sha to d and returns its job.
func (d *daemon) deploy(t *testing.T, id int64, sha string) string {
	t.Helper()
	a, err := d.send(deploymentOf(t, id, sha))
	if err != nil || a.Code != http.StatusAccepted {
		t.Fatalf("deployment %d: %d %v %v", id, a.Code, a.Body, err)
	}
	return a.Str("job")
}

// settled waits until job id ended and every one of its reports left the
// outbox, and returns its record.
func (d *daemon) settled(t *testing.T, id string) job.Record {
	t.Helper()
	testkit.Eventually(t, "job "+id+" and its reports", testkit.Patience, func() bool {
		rec := d.record(t, id)
		if !rec.State.Final() || len(rec.Reports) == 0 {
			return false
		}
		return !slices.ContainsFunc(rec.Reports, func(r job.Report) bool { return r.Outcome == job.ReportPending })
	})
	return d.record(t, id)
}

// statesOf lists the states deployment id received, in order.
func statesOf(srv *forgetest.Server, id int64) []string {
	var out []string
	for _, c := range srv.Calls() {
		if strings.Contains(c.Path, fmt.Sprintf("/deployments/%d/", id)) {
			out = append(out, fmt.Sprint(c.State(), " ", c.Code))
		}
	}
	return out
}

// A deployment event end to end through the daemon: the statuses GitHub
// gets for a deploy that succeeds, one whose command fails, one whose sync
// fails, and one superseded while it waited; the token never shows in the
// daemon's log or a job's log.
func TestDeploymentStatusesThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	bad := up.Commit(t, "main", map[string]string{"fail": "1"}, "fail")
	srv := forgetest.New(t, forgetest.GitHub, forgeToken)
	gate, hold := filepath.Join(dir, "gate"), filepath.Join(dir, "hold")
	// The first run waits for the gate; a file "fail" in the commit fails.
	cmd := `if [ ! -e ` + hold + ` ]; then touch ` + hold + `; while [ ! -e ` + gate + ` ]; do sleep 0.05; done; fi; test ! -e fail`
	d := startDaemon(t, deployFile(t, dir, up.Path(), srv, "metrics: {token: "+metricsToken+"}", cmd))
	first := d.deploy(t, 1, sha)
	testkit.WaitFile(t, hold)
	waiting := d.deploy(t, 2, sha)
	replacing := d.deploy(t, 3, bad)
	testkit.Touch(t, gate)
	d.settled(t, first)
	d.settled(t, waiting)
	d.settled(t, replacing)
	missing := d.deploy(t, 4, strings.Repeat("e", 40))
	d.settled(t, missing)
	srv.Check(t)
	want := map[int64][]string{
		1: {"queued 201", "in_progress 201", "success 201"},
		2: {"queued 201", "error 201"},
		3: {"queued 201", "in_progress 201", "failure 201"},
		4: {"queued 201", "in_progress 201", "error 201"},
	}
	for id, w := range want {
		if got := statesOf(srv, id); !slices.Equal(got, w) {
			t.Errorf("deployment %d: %v, want %v", id, got, w)
		}
	}
	for _, c := range srv.Calls() {
		t.Logf("%s", c)
		if c.State() == "error" && strings.Contains(c.Path, "/2/") && c.Body["description"] != "superseded by job "+replacing+" (deployment 3)" {
			t.Errorf("superseded: %v", c.Body["description"])
		}
	}
	// The outbox's posts are counted by forge and answer class, and none waits.
	_, fams := d.scrape(t, metricsToken)
	if v, _ := value(fams, "wh_gitd_outbox_posts_total", "forge", "github", "class", "2xx"); int(v) != len(srv.Calls()) {
		t.Errorf("wh_gitd_outbox_posts_total{github,2xx} = %v, want %d", v, len(srv.Calls()))
	}
	if v, found := value(fams, "wh_gitd_outbox_pending"); !found || v != 0 {
		t.Errorf("wh_gitd_outbox_pending = %v (found %v), want 0", v, found)
	}
	// The job's page lists what was reported back, with each answer.
	_, page := testkit.Fetch(t, http.MethodGet, "http://"+d.addr+"/jobs/"+first, nil,
		http.Header{"Authorization": {"Bearer " + token}})
	for _, want := range []string{"Reported back", "<td>github deployment 1</td><td>success</td><td>sent</td><td>1</td><td>201</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the job's page lacks %q", want)
		}
	}
	logs := d.logs()
	for _, id := range []string{first, replacing, missing} {
		logs += testkit.ReadIfExists(d.record(t, id).Log)
	}
	if strings.Contains(logs, forgeToken) {
		t.Errorf("the forge token is in a log")
	}
}

// A daemon killed with SIGKILL after a job ended but before its final
// status was posted posts it after the restart, exactly once.
func TestFinalStatusSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	srv := forgetest.New(t, forgetest.GitHub, forgeToken)
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	srv.Script = func(c forgetest.Call, n int) *forgetest.Answer {
		if c.State() == "in_progress" {
			select {
			case held <- struct{}{}:
				<-release // the first in_progress hangs until the daemon is dead
			default:
			}
		}
		return nil
	}
	file := deployFile(t, dir, up.Path(), srv, "report: {timeout: 5m}", "true")
	d := startDaemon(t, file)
	id := d.deploy(t, 77, sha)
	<-held
	testkit.Eventually(t, "the job to end", testkit.Patience, func() bool { return d.record(t, id).State.Final() })
	if rec := d.record(t, id); rec.Reports[2].State != "success" || rec.Reports[2].Outcome != job.ReportPending {
		t.Fatalf("before the kill: %+v", rec.Reports)
	}
	d.kill(t)
	close(release)
	d = startDaemon(t, file)
	rec := d.settled(t, id)
	d.stop(t, syscall.SIGTERM)
	srv.Check(t)
	var finals []string
	for _, c := range srv.Calls() {
		if s := c.State(); s != "queued" && s != "in_progress" {
			finals = append(finals, s)
		}
	}
	if !slices.Equal(finals, []string{"success"}) || rec.Reports[2].Outcome != job.ReportSent {
		t.Errorf("final statuses posted %v (want success once); reports %+v", finals, rec.Reports)
	}
	if got := statesOf(srv, 77); got[len(got)-1] != "success 201" || time.Since(rec.Finished) < 0 {
		t.Errorf("statuses %v", got)
	}
}

// A job wh-git-trigger runs in its own process (no daemon) enqueues its
// statuses; --show lists them waiting, and the daemon posts them when it
// starts.
func TestInProcessRunReportsThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	srv := forgetest.New(t, forgetest.Gitea, forgeToken)
	testkit.WriteFile(t, filepath.Join(dir, "forge-token"), forgeToken+"\n")
	file := testkit.File{Top: "api: {token: " + token + "}", Repos: []testkit.Repo{{Provider: settings.Gitea, Remote: up.Path(),
		Extra: fmt.Sprintf("status: {api_url: %q, token_file: forge-token, commits: true}", srv.APIURL)}}}.Write(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := exitCode(t, bins.trigger, file, "site")
	if code != 0 {
		t.Fatalf("in-process run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, rest, _ := strings.Cut(stdout, " job ")
	id := strings.TrimSuffix(strings.Fields(rest)[0], ":")
	code, stdout, _ = exitCode(t, bins.trigger, file, "--show", id)
	if code != 0 || !strings.Contains(stdout, "gitea commit "+sha[:7]+"  success  pending") {
		t.Errorf("--show: exit %d\n%s", code, stdout)
	}
	d := startDaemon(t, file)
	rec := d.settled(t, id)
	srv.Check(t)
	// A manual run names no commit: the one it deployed gets its statuses.
	if got := srv.States(); !slices.Equal(got, []string{"pending", "success"}) || rec.Reports[1].Outcome != job.ReportSent {
		t.Errorf("states %v, reports %+v", got, rec.Reports)
	}
}

// An entry with auth.from_status fetches its https remote with its App's
// installation token, minted once and shared with its statuses; the token
// shows in no log.
func TestFetchWithAppToken(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	srv := forgetest.New(t, forgetest.GitHub, "")
	app := srv.NewApp(t, 1234, 5678)
	var used []string
	var mu sync.Mutex
	remote := up.ServeHTTPCheck(t, func(user, pass string) bool {
		mu.Lock()
		defer mu.Unlock()
		used = append(used, pass)
		return user == "x-access-token" && app.Live(pass)
	})
	f := testkit.File{Top: "api: {token: " + token + "}\n", Repos: []testkit.Repo{{Remote: remote,
		Extra: fmt.Sprintf("status: {api_url: %q, app_id: 1234, installation_id: 5678, private_key_file: %q}\n"+
			"auth: {from_status: true}", srv.APIURL, app.KeyFile),
		Environments: []testkit.Target{{Name: "production", Branch: "main", Commands: []string{"test -e f"}}}}}}
	d := startDaemon(t, f.Write(t, dir))
	id := d.deploy(t, 1, sha)
	rec := d.settled(t, id)
	srv.Check(t)
	if rec.State != job.Succeeded || rec.Deployed != sha {
		t.Fatalf("job %s (%s), deployed %q", rec.State, rec.Error, rec.Deployed)
	}
	if got := statesOf(srv, 1); !slices.Equal(got, []string{"queued 201", "in_progress 201", "success 201"}) {
		t.Errorf("statuses %v", got)
	}
	if app.Minted() != 1 {
		t.Errorf("%d installation tokens minted, want 1 for the fetch and the statuses", app.Minted())
	}
	logs := d.logs() + testkit.ReadIfExists(rec.Log)
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range used {
		if tok != "" && strings.Contains(logs, tok) {
			t.Errorf("the installation token is in a log")
		}
	}
}
