//go:build hostile

package receiver_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// commits makes n commits on branch in one git fast-import run (the
// helpers' one commit per call would take minutes for a thousand) and
// returns their SHAs, oldest first. Commit i sets file n to i.
func commits(t *testing.T, up *gitsynctest.Upstream, branch string, n int) []string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		content := fmt.Sprint(i)
		fmt.Fprintf(&b, "commit refs/heads/%s\nmark :%d\ncommitter t <t@example.invalid> %d +0000\ndata 1\nc\n",
			branch, i+1, 1_700_000_000+i)
		if i > 0 {
			fmt.Fprintf(&b, "from :%d\n", i)
		}
		fmt.Fprintf(&b, "M 100644 inline n\ndata %d\n%s\n\n", len(content), content)
	}
	up.GitInput(t, b.String(), "fast-import", "--quiet")
	shas := strings.Fields(up.Git(t, "rev-list", "--reverse", "refs/heads/"+branch))
	if len(shas) < n {
		t.Fatalf("fast-import made %d commits, want %d", len(shas), n)
	}
	return shas[len(shas)-n:]
}

// One delivery replayed, one after the other or twenty at once, makes one
// job and one run; every other answer is 200 duplicate naming that job.
func TestHostileReplay(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	for _, name := range forges {
		t.Run(endpoints[name].provider, func(t *testing.T) {
			body := pushBody(t, name, "main", testkit.ZeroSHA, c1)
			id := rand.Text()
			var wg sync.WaitGroup
			answers := make([]testkit.Answer, 20)
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = h.send(name, testkit.Delivery{Body: body, ID: id})
				}()
			}
			wg.Wait()
			later := h.send(name, testkit.Delivery{Body: body, ID: id})
			var queued []string
			for _, a := range append(answers, later) {
				switch {
				case a.Code == http.StatusAccepted:
					queued = append(queued, a.Str("job"))
				case a.Code != http.StatusOK || a.Str("status") != "duplicate":
					t.Errorf("answer %d %s, want 202 once and 200 duplicate after", a.Code, a.Raw)
				}
			}
			if len(queued) != 1 {
				t.Fatalf("%d deliveries queued, want 1", len(queued))
			}
			for _, a := range append(answers, later) {
				if a.Code == http.StatusOK && a.Str("job") != queued[0] {
					t.Errorf("duplicate names job %q, want %q", a.Str("job"), queued[0])
				}
			}
			if r := h.wait(queued[0]); r.State != job.Succeeded {
				t.Fatalf("job %s: %s", r.State, r.Error)
			}
			if runs := strings.Count(testkit.ReadIfExists(h.record(name)), "second\n"); runs != 1 {
				t.Errorf("%d runs, want 1", runs)
			}
		})
	}
}

// A thousand pushes to one branch within ten seconds: every one answered
// 2xx, at most three runs, every accepted job accounted for, and the last
// commit deployed. The pushes come from eight senders at once, as a forge's
// delivery workers do; the last one is sent alone after all the others
// were answered, so it is the newest push the daemon heard.
func TestHostilePushFlood(t *testing.T) {
	const pushes, senders, runTime = 1000, 8, 5 * time.Second
	h := newHarness(t, harnessOpts{branches: fmt.Sprintf(
		"      main:\n        commands: ['sleep %g; echo \"$WH_SHA\" >> \"$REC\"']\n        env: {REC: \"%%[1]s\"}",
		runTime.Seconds())})
	shas := commits(t, h.up, "main", pushes)
	bodies := make([][]byte, pushes)
	prev := testkit.ZeroSHA
	for i, sha := range shas {
		bodies[i] = pushBody(t, "gh", "main", prev, sha)
		prev = sha
	}
	answers := make([]testkit.Answer, pushes)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				answers[i] = h.send("gh", testkit.Delivery{Body: bodies[i]})
			}
		}()
	}
	for i := range pushes - 1 {
		next <- i
	}
	close(next)
	wg.Wait()
	answers[pushes-1] = h.send("gh", testkit.Delivery{Body: bodies[pushes-1]})
	// A bound that only a stuck intake exceeds, not a speed target (the
	// bench measures intake).
	if took := time.Since(start); took > time.Minute {
		t.Errorf("%d pushes took %s to answer, want at most a minute", pushes, took)
	}
	ids := make([]string, 0, pushes)
	for i, a := range answers {
		if a.Code/100 != 2 || a.Str("job") == "" {
			t.Fatalf("push %d: answer %d %s", i, a.Code, a.Raw)
		}
		ids = append(ids, a.Str("job"))
	}
	t.Logf("%d pushes answered in %s", pushes, time.Since(start))
	ran := h.runs(t, ids)
	if ran > 3 {
		t.Errorf("%d runs for %d pushes, want at most 3", ran, pushes)
	}
	if got := testkit.Head(t, h.workCopy("gh")); got != shas[pushes-1] {
		t.Errorf("working copy at %s, want the last push %s", got, shas[pushes-1])
	}
	deployed := strings.Fields(testkit.ReadFile(t, h.record("gh")))
	if len(deployed) != ran || deployed[len(deployed)-1] != shas[pushes-1] {
		t.Errorf("deployed %v, want %d runs ending with the last commit", deployed, ran)
	}
}

// fleet is n GitHub entries r0, r1, ... whose branch main runs command
// with $T set to dir.
func fleet(n int, command, dir string) []testkit.Repo {
	repos := make([]testkit.Repo, n)
	for i := range repos {
		repos[i] = testkit.Repo{Name: fmt.Sprintf("r%d", i), Branches: []testkit.Target{{Commands: []string{command},
			Env: map[string]string{"T": dir}}}}
	}
	return repos
}

// maxOverlap reads the start and end stamps (nanoseconds) the commands
// wrote, one file per entry, and returns how many ran at once at most.
func maxOverlap(t *testing.T, files []string) int {
	t.Helper()
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, f := range files {
		for _, line := range strings.Split(strings.TrimSpace(testkit.ReadFile(t, f)), "\n") {
			kind, stamp, _ := strings.Cut(line, " ")
			ns, err := strconv.ParseInt(stamp, 10, 64)
			if err != nil {
				t.Fatalf("%s: bad line %q", f, line)
			}
			edges = append(edges, edge{ns, map[string]int{"start": 1, "end": -1}[kind]})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// Pushes to fifty repositories with four workers: all accepted, all run,
// and never more than four jobs at once.
func TestHostileFiftyRepositoriesFourWorkers(t *testing.T) {
	const repos, workers = 50, 4
	dir := t.TempDir()
	h := newHarness(t, harnessOpts{workers: workers, queue: repos, repos: fleet(repos,
		`echo "start $(date +%s%N)" >> "$T/$WH_REPO"; sleep 0.3; echo "end $(date +%s%N)" >> "$T/$WH_REPO"`, dir)})
	sha := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	var ids []string
	for i := range repos {
		name := fmt.Sprintf("r%d", i)
		a := h.do(testkit.Delivery{Provider: settings.GitHub, URL: h.url + "/hooks/" + name,
			Body: testkit.PushBody(t, "", settings.GitHub, testkit.Push{Ref: "refs/heads/main", After: sha, Repository: "acme/" + name})}.Request(t))
		if a.Code != http.StatusAccepted {
			t.Fatalf("%s: answer %d %s", name, a.Code, a.Raw)
		}
		ids = append(ids, a.Str("job"))
	}
	testkit.Eventually(t, "every job to finish", 120*time.Second, func() bool { return h.finished() == repos })
	var files []string
	for _, id := range ids {
		if r := h.wait(id); r.State != job.Succeeded {
			t.Errorf("job %s of %s: %s %s", id, r.Job.Repo, r.State, r.Error)
		}
	}
	for i := range repos {
		files = append(files, filepath.Join(dir, fmt.Sprintf("r%d", i)))
	}
	peak := maxOverlap(t, files)
	t.Logf("at most %d of %d jobs ran at once", peak, repos)
	if peak > workers {
		t.Errorf("%d jobs ran at once, want at most %d", peak, workers)
	}
	if peak < 2 {
		t.Errorf("at most %d job ran at once: the pool was not used", peak)
	}
}

// With every worker busy and the queue full, a delivery gets 503 with
// Retry-After, and every delivery that was accepted still runs.
func TestHostileQueueFull(t *testing.T) {
	var branches strings.Builder
	for _, b := range []string{"main", "b1", "b2", "b3", "b4"} {
		fmt.Fprintf(&branches, "      %s:\n        commands: ['while [ ! -e \"$RELEASE\" ]; do sleep 0.02; done; echo \"$WH_BRANCH\" >> \"$REC\"']\n"+
			"        env: {REC: \"%%[1]s\", RELEASE: \"%%[1]s.release\"}\n", b)
	}
	h := newHarness(t, harnessOpts{workers: 1, queue: 2, branches: strings.TrimRight(branches.String(), "\n")})
	var accepted []string
	var refused int
	for _, b := range []string{"main", "b1", "b2", "b3", "b4"} {
		sha := h.up.Commit(t, b, map[string]string{"f": b}, b)
		a := h.push("gh", b, testkit.ZeroSHA, sha)
		switch a.Code {
		case http.StatusAccepted:
			accepted = append(accepted, a.Str("job"))
		case http.StatusServiceUnavailable:
			refused++
			if ra, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || ra <= 0 {
				t.Errorf("503 with Retry-After %q, want a number of seconds", a.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("%s: answer %d %s", b, a.Code, a.Raw)
		}
		if b == "main" {
			// The working copy exists: the first job got past the sync
			// and is running its command.
			testkit.WaitFile(t, filepath.Join(h.workCopy("gh"), "f"))
		}
	}
	if len(accepted) != 3 || refused != 2 {
		t.Fatalf("%d accepted, %d refused; want 3 (one running, two waiting) and 2", len(accepted), refused)
	}
	testkit.Touch(t, h.record("gh")+".release")
	for _, id := range accepted {
		if r := h.wait(id); r.State != job.Succeeded {
			t.Errorf("job %s: %s %s", id, r.State, r.Error)
		}
	}
	if got := strings.Fields(testkit.ReadFile(t, h.record("gh"))); len(got) != 3 {
		t.Errorf("runs %v, want the 3 accepted", got)
	}
}
