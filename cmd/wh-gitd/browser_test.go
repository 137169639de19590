package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// browser starts headless Chromium for the test, with no network of its
// own and a fresh profile, and returns a tab's context; it skips the test
// when Chromium is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	profile, err := os.MkdirTemp("", "wh-gitd-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may still write there for a moment after it stops.
		testkit.Eventually(t, "the browser profile to go", 10*time.Second, func() bool { return os.RemoveAll(profile) == nil })
	})
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 800)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// steps runs browser steps, failing the test with what was being done.
func steps(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(testkit.Patience),
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// click clicks the element sel and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil || resp == nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status
}

// screenshot saves the whole page as name.png in dir and logs the path.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the %s: %s", name, path)
}

// The page as a person uses it, in headless Chromium against the daemon: a
// wrong token stays on the login form; the token shows the overview with a
// succeeded and a failed target; a running job's page shows a line its
// command prints after the page was opened, without a reload, and its
// coloured markup as text; a queued job is cancelled; redeploy runs a new
// job of the same commit, recorded as the session's; logging out ends the
// session.
func TestPageInBrowser(t *testing.T) {
	ctx := browser(t)
	d, dir, sha := pageDaemon(t)
	shots, err := os.MkdirTemp("", "wh-gitd-page-shots")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + d.addr
	site := d.queue(t, "site", "main", sha)
	broken := d.queue(t, "broken", "main", sha)
	d.waitJob(t, site, ended)
	d.waitJob(t, broken, ended)

	pageLogin(t, ctx, base)
	pageOverview(t, ctx, shots)
	slow := d.queue(t, "slow", "main", sha)
	d.waitJob(t, slow, func(s job.State) bool { return s == job.Running })
	pageLiveLog(t, ctx, base, dir, slow, shots)
	queued := d.queue(t, "slow", "main", sha)
	steps(t, ctx, "open the queued job", chromedp.Navigate(base+"/jobs/"+queued))
	click(t, ctx, `form[action$="/cancel"] button`)
	if got := eval[string](t, ctx, `document.getElementById("state").textContent`); got != "cancelled" {
		t.Errorf("queued job after cancel shows %q", got)
	}
	if rec := d.record(t, queued); rec.State != job.Cancelled {
		t.Errorf("queued job is %s after cancel", rec.State)
	}
	testkit.Touch(t, filepath.Join(dir, "go2"))
	pageRedeploy(t, ctx, d, base, site, sha)
	pageOnPhone(t, ctx, base)

	click(t, ctx, `form.logout button`)
	steps(t, ctx, "open the overview after logging out", chromedp.Navigate(base+"/"))
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/login" {
		t.Errorf("after logout / shows %s", loc)
	}
}

// unlabelled counts the form fields of the page without a label.
const unlabelled = `[...document.querySelectorAll("input:not([type=hidden]), select")].filter(e => e.labels.length == 0).length`

// pageOnPhone checks, on a phone's screen, that the history's filters are
// labelled and that no page is wider than the screen.
func pageOnPhone(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	steps(t, ctx, "use a phone's screen", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
	for _, path := range []string{"/", "/jobs"} {
		steps(t, ctx, "open "+path, chromedp.Navigate(base+path))
		if n := eval[int](t, ctx, unlabelled); n != 0 {
			t.Errorf("%s: %d fields without a label", path, n)
		}
		if w := eval[int](t, ctx, `document.body.scrollWidth`); w > 375 {
			t.Errorf("%s is %d px wide on a 375 px screen", path, w)
		}
	}
	steps(t, ctx, "back to a desktop's screen", chromedp.ResetViewport())
}

// pageLogin logs in: first with a wrong token, which stays on the form.
func pageLogin(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	steps(t, ctx, "open the page", chromedp.Navigate(base+"/"))
	if loc := eval[string](t, ctx, `location.pathname + location.search`); loc != "/login?next=%2F" {
		t.Fatalf("without a session / goes to %s", loc)
	}
	if n := eval[int](t, ctx, unlabelled); n != 0 {
		t.Errorf("the login form has %d fields without a label", n)
	}
	steps(t, ctx, "type a wrong token", chromedp.SendKeys(chromedp.CSS("#secret"), "not-the-token-at-all"))
	if code := click(t, ctx, "form.login button"); code != 401 {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/login" {
		t.Fatalf("a wrong token leads to %s", loc)
	}
	if msg := eval[string](t, ctx, `document.querySelector("[role=alert]").textContent`); msg != "Wrong API token." {
		t.Errorf("wrong token says %q", msg)
	}
	steps(t, ctx, "type the token", chromedp.SendKeys(chromedp.CSS("#secret"), token))
	click(t, ctx, "form.login button")
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/" {
		t.Fatalf("the token leads to %s", loc)
	}
}

// overviewRow is a row of the overview as the browser shows it.
type overviewRow struct {
	Text    string `json:"text"`
	Failing bool   `json:"failing"`
}

// pageOverview checks the overview's targets: site succeeded, broken
// failed and stands out.
func pageOverview(t *testing.T, ctx context.Context, shots string) {
	t.Helper()
	rows := eval[[]overviewRow](t, ctx, `[...document.querySelectorAll("tbody tr")].map(r =>
		({text: r.innerText, failing: r.classList.contains("failing")}))`)
	found := map[string]overviewRow{}
	for _, r := range rows {
		found[strings.Fields(r.Text)[0]] = r
	}
	if r := found["site"]; r.Failing || !strings.Contains(r.Text, "succeeded") || !strings.Contains(r.Text, "main") {
		t.Errorf("site's row: %+v", r)
	}
	if r := found["broken"]; !r.Failing || !strings.Contains(r.Text, "failed") {
		t.Errorf("broken's row does not stand out as failed: %+v", r)
	}
	alert := eval[string](t, ctx, `document.querySelector("main [role=status]").textContent`)
	if !strings.Contains(alert, "1 failing target") {
		t.Errorf("overview's alert: %q", alert)
	}
	bg := eval[string](t, ctx, `getComputedStyle(document.querySelector("tr.failing")).backgroundColor`)
	if bg == "rgba(0, 0, 0, 0)" {
		t.Errorf("the failing row has no background: the style sheet did not apply")
	}
	screenshot(t, ctx, shots, "overview")
}

// pageLiveLog opens the running job id, then lets its command print a
// line, which must appear in the page without a reload.
func pageLiveLog(t *testing.T, ctx context.Context, base, dir, id, shots string) {
	t.Helper()
	steps(t, ctx, "open the running job", chromedp.Navigate(base+"/jobs/"+id))
	waitFor(t, ctx, "the log so far", `document.getElementById("log").textContent.includes("ready-42")`)
	eval[bool](t, ctx, `window.samePage = true`)
	testkit.Touch(t, filepath.Join(dir, "go1"))
	waitFor(t, ctx, "the line printed after the page was opened",
		`document.getElementById("log").textContent.includes("after-open-42")`)
	if !eval[bool](t, ctx, `window.samePage === true`) {
		t.Error("the page was reloaded")
	}
	log := eval[string](t, ctx, `document.getElementById("log").textContent`)
	if !regexp.MustCompile(`(?m)Z green <b>bold</b>$`).MatchString(log) || strings.ContainsAny(log, "\x1b") {
		t.Errorf("log not shown as plain text: %q", log)
	}
	if eval[int](t, ctx, `document.querySelectorAll("#log *").length`) != 0 {
		t.Error("the log's text became markup")
	}
	screenshot(t, ctx, shots, "job")
}

// pageRedeploy presses redeploy on the job id and follows the new job to
// its end.
func pageRedeploy(t *testing.T, ctx context.Context, d *daemon, base, id, sha string) {
	t.Helper()
	steps(t, ctx, "open the job to redeploy", chromedp.Navigate(base+"/jobs/"+id))
	click(t, ctx, `form[action$="/redeploy"] button`)
	path := eval[string](t, ctx, `location.pathname`)
	next, ok := strings.CutPrefix(path, "/jobs/")
	if !ok || next == id {
		t.Fatalf("redeploy leads to %s", path)
	}
	waitFor(t, ctx, "the new job to succeed", `document.getElementById("state").textContent.includes("succeeded")`)
	rec := d.waitJob(t, next, ended)
	if rec.State != job.Succeeded || rec.Event != job.EventManual || rec.Deployed != sha ||
		!strings.HasPrefix(rec.By, "page session ") || len(rec.Commands) != 1 {
		t.Errorf("redeployed job: %s %s by %q at %s, %d commands", rec.State, rec.Event, rec.By, rec.Deployed, len(rec.Commands))
	}
}
