//go:build hostile

package receiver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// One delivery replayed, one after the other or twenty at once, makes one
// job and one run; every other answer is 200 duplicate naming that job.
func TestHostileReplay(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	for _, name := range []string{"gh", "gl", "gg"} {
		t.Run(endpoints[name].provider, func(t *testing.T) {
			body := pushBody(t, name, "main", zeroSHA, c1)
			id := nextDeliveryID()
			var wg sync.WaitGroup
			answers := make([]answer, 20)
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = h.send(delivery{endpoint: name, body: body, id: id})
				}()
			}
			wg.Wait()
			later := h.send(delivery{endpoint: name, body: body, id: id})
			var queued []string
			for _, a := range append(answers, later) {
				switch {
				case a.code == http.StatusAccepted:
					queued = append(queued, a.str("job"))
				case a.code != http.StatusOK || a.str("status") != "duplicate":
					t.Errorf("answer %d %s, want 202 once and 200 duplicate after", a.code, a.raw)
				}
			}
			if len(queued) != 1 {
				t.Fatalf("%d deliveries queued, want 1", len(queued))
			}
			for _, a := range append(answers, later) {
				if a.code == http.StatusOK && a.str("job") != queued[0] {
					t.Errorf("duplicate names job %q, want %q", a.str("job"), queued[0])
				}
			}
			if r := h.wait(queued[0]); r.State != job.Succeeded {
				t.Fatalf("job %s: %s", r.State, r.Error)
			}
			if runs := strings.Count(readIfExists(h.record(name)), "second\n"); runs != 1 {
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
	prev := zeroSHA
	for i, sha := range shas {
		bodies[i] = pushBody(t, "gh", "main", prev, sha)
		prev = sha
	}
	answers := make([]answer, pushes)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				answers[i] = h.send(delivery{endpoint: "gh", body: bodies[i]})
			}
		}()
	}
	for i := range pushes - 1 {
		next <- i
	}
	close(next)
	wg.Wait()
	answers[pushes-1] = h.send(delivery{endpoint: "gh", body: bodies[pushes-1]})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("%d pushes took %s to answer, want at most 10s", pushes, took)
	}
	ids := make([]string, 0, pushes)
	for i, a := range answers {
		if !statusOK(a.code) || a.str("job") == "" {
			t.Fatalf("push %d: answer %d %s", i, a.code, a.raw)
		}
		ids = append(ids, a.str("job"))
	}
	t.Logf("%d pushes answered in %s", pushes, time.Since(start))
	ran := h.runs(t, ids)
	if ran > 3 {
		t.Errorf("%d runs for %d pushes, want at most 3", ran, pushes)
	}
	if got := head(t, h.workCopy("gh")); got != shas[pushes-1] {
		t.Errorf("working copy at %s, want the last push %s", got, shas[pushes-1])
	}
	deployed := strings.Fields(readFile(t, h.record("gh")))
	if len(deployed) != ran || deployed[len(deployed)-1] != shas[pushes-1] {
		t.Errorf("deployed %v, want %d runs ending with the last commit", deployed, ran)
	}
}

// fleet is n repository entries on one upstream, with workers workers;
// each entry's branch main runs command with $T set to dir.
func fleet(t *testing.T, n, workers int, command string) (*settings.Settings, string, *gitsynctest.Upstream) {
	t.Helper()
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nstate_dir: state\nworkers: %d\nqueue_size: %d\nkill_grace: 1s\nrepos:\n", workers, n)
	for i := range n {
		fmt.Fprintf(&b, "  r%d:\n    provider: github\n    repository: acme/r%d\n    remote: %s\n    path: wc-%d\n"+
			"    secret: s%d-secret-0123456789\n    branches:\n      main: {commands: [%q], env: {T: %q}}\n", i, i, up.Path(), i, i, command, dir)
	}
	file := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := settings.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set, dir, up
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
		for _, line := range strings.Split(strings.TrimSpace(readFile(t, f)), "\n") {
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
	set, dir, up := fleet(t, repos, workers,
		`echo "start $(date +%s%N)" >> "$T/$WH_REPO"; sleep 0.3; echo "end $(date +%s%N)" >> "$T/$WH_REPO"`)
	sha := up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	var mu sync.Mutex
	done := map[string]job.Record{}
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rn := runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(zerolog.Nop()), Store: store, Logger: zerolog.Nop(),
		OnDone: func(r job.Record) { mu.Lock(); done[r.Job.ID] = r; mu.Unlock() }})
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		_ = rn.Close(ctx)
	})
	srv := httptest.NewServer(receiver.New(receiver.Options{Settings: set, Jobs: rn, Logger: zerolog.Nop()}))
	defer srv.Close()
	var ids []string
	for i := range repos {
		name := fmt.Sprintf("r%d", i)
		body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":%q,"after":%q,"repository":{"full_name":"acme/r%d"}}`,
			zeroSHA, sha, i))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/"+name, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(fmt.Sprintf("s%d-secret-0123456789", i), body))
		h := &harness{t: t}
		a := h.do(req)
		if a.code != http.StatusAccepted {
			t.Fatalf("%s: answer %d %s", name, a.code, a.raw)
		}
		ids = append(ids, a.str("job"))
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n == repos {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished", n, repos)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var files []string
	for _, id := range ids {
		if r := done[id]; r.State != job.Succeeded {
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
		a := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", b, zeroSHA, sha)})
		switch a.code {
		case http.StatusAccepted:
			accepted = append(accepted, a.str("job"))
		case http.StatusServiceUnavailable:
			refused++
			if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra <= 0 {
				t.Errorf("503 with Retry-After %q, want a number of seconds", a.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("%s: answer %d %s", b, a.code, a.raw)
		}
		if b == "main" {
			waitJobRunning(t, h, "gh")
		}
	}
	if len(accepted) != 3 || refused != 2 {
		t.Fatalf("%d accepted, %d refused; want 3 (one running, two waiting) and 2", len(accepted), refused)
	}
	touch(t, h.record("gh")+".release")
	for _, id := range accepted {
		if r := h.wait(id); r.State != job.Succeeded {
			t.Errorf("job %s: %s %s", id, r.State, r.Error)
		}
	}
	if got := strings.Fields(readFile(t, h.record("gh"))); len(got) != 3 {
		t.Errorf("runs %v, want the 3 accepted", got)
	}
}

// waitJobRunning waits until the working copy of endpoint exists: its first
// job got past the sync and is running its command.
func waitJobRunning(t *testing.T, h *harness, endpoint string) {
	t.Helper()
	waitFile(t, filepath.Join(h.workCopy(endpoint), "f"))
}
