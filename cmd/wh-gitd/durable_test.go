package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

const token = "durable-test-token-0123"

// api asks the daemon's job API for path and decodes the answer.
func (d *daemon) api(t *testing.T, method, path string) testkit.Answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return testkit.MustDo(t, req)
}

func (d *daemon) record(t *testing.T, id string) job.Record {
	t.Helper()
	a := d.api(t, http.MethodGet, "/api/jobs/"+id)
	if a.Code != http.StatusOK {
		t.Fatalf("job %s: %d %v", id, a.Code, a.Body)
	}
	raw, _ := json.Marshal(a.Body["job"])
	var rec job.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// unfinished counts the jobs the daemon has not ended yet.
func (d *daemon) unfinished(t *testing.T) int {
	t.Helper()
	n := 0
	for _, s := range []job.State{job.Queued, job.Running, job.Interrupted} {
		jobs, _ := d.api(t, http.MethodGet, "/api/jobs?limit=1000&state="+string(s)).Body["jobs"].([]any)
		n += len(jobs)
	}
	return n
}

func (d *daemon) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	err := <-d.done
	d.done <- err
}

// crashFile describes settings with n entries r0..rN-1 on branches
// b0..bN-1 of one upstream, each recording in dir/recN the commits its
// command saw.
func crashFile(dir, remote string, n int) testkit.File {
	// The kills come so often that a job may be interrupted many times.
	f := testkit.File{Top: "workers: 2\napi: {token: " + token + "}\nshutdown_grace: 2s\nkill_grace: 1s\nmax_attempts: 1000"}
	for i := range n {
		f.Repos = append(f.Repos, testkit.Repo{Name: fmt.Sprint("r", i), Remote: remote, Branches: []testkit.Target{{
			Name: fmt.Sprint("b", i), Commands: []string{`sleep 0.05; echo "$WH_SHA" >> ` + filepath.Join(dir, fmt.Sprint("rec", i))}}}})
	}
	return f
}

// pushOfR is pushOf for the entry rN of crashFile, with the delivery id id.
func pushOfR(t *testing.T, n int, sha, id string) testkit.Delivery {
	t.Helper()
	dl := pushOf(t, fmt.Sprint("r", n), fmt.Sprint("b", n), sha)
	dl.ID = id
	return dl
}

// Deliveries for ten repositories while the daemon is killed with SIGKILL at
// random moments and restarted: every delivery that got a 2xx has exactly
// one job, which ended succeeded or superseded, and every working copy ends
// at the last pushed commit.
func TestCrashRecovery(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) { crashRound(t, uint64(round)) })
	}
}

func crashRound(t *testing.T, seed uint64) {
	const repos, perRepo = 10, 20
	killRNG, retryRNG := rand.New(rand.NewPCG(seed, 7)), rand.New(rand.NewPCG(seed, 8))
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	var deliveries []testkit.Delivery
	last := map[int]string{}
	for k := range perRepo {
		for i := range repos {
			sha := up.Commit(t, fmt.Sprintf("b%d", i), map[string]string{"n": fmt.Sprint(k)}, "c")
			deliveries = append(deliveries, pushOfR(t, i, sha, fmt.Sprintf("d-%d-%d-%d", seed, i, k)))
			last[i] = sha
		}
	}
	file := crashFile(dir, up.Path(), repos).Write(t, dir)
	var mu sync.Mutex
	d := startDaemon(t, file)
	current := func() *daemon { mu.Lock(); defer mu.Unlock(); return d }
	answers := map[string][]string{} // delivery id → job ids answered
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for _, dl := range deliveries {
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				a, err := current().send(dl)
				if err == nil && a.Code/100 == 2 {
					mu.Lock()
					answers[dl.ID] = append(answers[dl.ID], a.Str("job"))
					mu.Unlock()
					// A forge that lost the answer retries; so do we, sometimes.
					if retryRNG.IntN(10) != 0 {
						break
					}
				}
			}
		}
	}()
	// Kill at random moments while deliveries arrive: at least four times,
	// and on until every delivery has been answered (at most 30 times).
	kills := 0
	for ; kills < 30; kills++ {
		select {
		case <-sent:
			if kills >= 4 {
				goto done
			}
		default:
		}
		time.Sleep(time.Duration(50+killRNG.IntN(400)) * time.Millisecond)
		current().kill(t)
		next := startDaemon(t, file)
		mu.Lock()
		d = next
		mu.Unlock()
	}
done:
	<-sent
	t.Logf("%d kills", kills)
	testkit.Eventually(t, "every job to end", 120*time.Second, func() bool { return d.unfinished(t) == 0 })
	checkCrashRound(t, d, deliveries, answers, last, dir)
}

func checkCrashRound(t *testing.T, d *daemon, deliveries []testkit.Delivery, answers map[string][]string,
	last map[int]string, dir string) {
	t.Helper()
	for _, dl := range deliveries {
		ids := answers[dl.ID]
		if len(ids) == 0 {
			t.Fatalf("delivery %s never got a 2xx", dl.ID)
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Errorf("delivery %s answered with two jobs: %v", dl.ID, ids)
			}
		}
		rec := d.record(t, ids[0])
		switch rec.State {
		case job.Succeeded, job.Skipped: // skipped: an earlier job deployed the tip
		case job.Superseded:
			if by := d.record(t, rec.SupersededBy); by.Job.Repo != rec.Job.Repo || by.Job.Branch != rec.Job.Branch {
				t.Errorf("job %s superseded by %s of another branch", rec.Job.ID, by.Job.ID)
			}
		default:
			t.Errorf("job %s of delivery %s ended %s: %s", rec.Job.ID, dl.ID, rec.State, rec.Error)
		}
	}
	for i, sha := range last {
		if got := testkit.Head(t, filepath.Join(dir, fmt.Sprintf("wc-r%d", i))); got != sha {
			t.Errorf("working copy %d at %s, want the last push %s", i, got, sha)
		}
	}
}

// The same delivery id before and after a restart is a duplicate of the
// first job, and runs nothing more.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "b0")
	file := crashFile(dir, up.Path(), 1).Write(t, dir)
	d := startDaemon(t, file)
	dl := pushOfR(t, 0, sha, "same-id")
	a, err := d.send(dl)
	if err != nil || a.Code != http.StatusAccepted {
		t.Fatalf("first: %d %v %v", a.Code, a.Body, err)
	}
	jb := a.Str("job")
	// Wait for the record, not only the command's output: a kill between
	// the two leaves the job unfinished, and it rightly runs again.
	testkit.Eventually(t, "the job", 30*time.Second, func() bool { return d.record(t, jb).State == job.Succeeded })
	for _, when := range []string{"before", "after"} {
		if when == "after" {
			d.kill(t)
			d = startDaemon(t, file)
		}
		a, err := d.send(dl)
		if err != nil || a.Code != http.StatusOK || a.Str("status") != "duplicate" || a.Str("job") != jb {
			t.Fatalf("replay %s the restart: %d %v %v, want 200 duplicate of %v", when, a.Code, a.Body, err, jb)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(strings.Fields(testkit.ReadIfExists(filepath.Join(dir, "rec0")))); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// A job the shutdown grace cut short is recorded interrupted and runs again
// (to success) at the next start.
func TestInterruptedJobRunsAgain(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	marker := filepath.Join(dir, "second")
	file := siteFile(up.Path(), "shutdown_grace: 500ms\nkill_grace: 500ms\napi: {token: "+token+"}", testkit.Target{
		Commands: []string{"if [ -e " + marker + " ]; then exit 0; fi; touch " + marker + "; sleep 600"}}).Write(t, dir)
	d := startDaemon(t, file)
	id := d.queue(t, "site", "main", sha)
	testkit.WaitFile(t, marker)
	d.stop(t, syscall.SIGTERM)
	d = startDaemon(t, file)
	testkit.Eventually(t, "the job to run again", 30*time.Second, func() bool { return d.record(t, id).State.Final() })
	if rec := d.record(t, id); rec.State != job.Succeeded || rec.Attempts != 2 {
		t.Errorf("job %s after restart: %s, attempt %d, want succeeded at attempt 2", id, rec.State, rec.Attempts)
	}
}

// A job store that cannot be written (its file system is full) answers 503
// with Retry-After, keeps the daemon up, and takes deliveries again once
// there is room.
func TestStoreFullAnswers503(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for the state dir here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", state).Run() })
	up, sha := upstream(t, "b0")
	d := startDaemon(t, crashFile(dir, up.Path(), 1).Write(t, dir))
	filler := filepath.Join(state, "filler")
	// Fill every last block: dd ends with "No space left on device".
	_ = exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").Run()
	_ = exec.Command("dd", "if=/dev/zero", "of="+filler+"2", "bs=512").Run()
	// The store's file has free pages of its own, so the first deliveries
	// still fit; once it must grow, deliveries are refused.
	var refused testkit.Delivery
	dl := pushOfR(t, 0, sha, "")
	for i := 0; i < 2000 && refused.ID == ""; i++ {
		dl.ID = fmt.Sprint("full-", i)
		a, err := d.send(dl)
		switch {
		case err != nil:
			t.Fatal(err)
		case a.Code == http.StatusServiceUnavailable:
			refused = dl
			if a.Str("status") != "error" {
				t.Errorf("503 answer %v", a.Body)
			}
		case a.Code != http.StatusAccepted:
			t.Fatalf("delivery %d on a full disk: %d %v", i, a.Code, a.Body)
		}
	}
	if refused.ID == "" {
		t.Fatal("2000 deliveries accepted on a full disk")
	}
	if a, err := d.send(refused); err != nil || a.Code != http.StatusServiceUnavailable {
		t.Fatalf("a second try on a full disk: %d %v, want 503 again", a.Code, err)
	}
	resp, err := http.Get("http://" + d.addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("daemon not healthy on a full disk: %v", err)
	}
	resp.Body.Close()
	for _, f := range []string{filler, filler + "2"} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	a, err := d.send(refused)
	if err != nil || a.Code != http.StatusAccepted {
		t.Fatalf("the refused delivery, retried with room: %d %v %v, want 202", a.Code, a.Body, err)
	}
	if rec := waitRecord(t, d, a.Str("job")); rec.State != job.Succeeded {
		t.Errorf("job %s: %s", rec.State, rec.Error)
	}
}

func waitRecord(t *testing.T, d *daemon, id string) job.Record {
	t.Helper()
	testkit.Eventually(t, "job "+id, 30*time.Second, func() bool { return d.record(t, id).State.Final() })
	return d.record(t, id)
}

// wh-git-trigger submits through a running daemon and follows its log;
// with the daemon stopped it runs in its own process and records the job in
// the same history; --list and --show read that history.
func TestTriggerThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "b0")
	f := crashFile(dir, up.Path(), 1)
	f.Listen = testkit.FreeAddr(t)
	file := f.Write(t, dir)
	d := startDaemon(t, file)
	code, stdout, stderr := exitCode(t, bins.trigger, file, "r0")
	if code != 0 || !strings.Contains(stderr, "submitted to the daemon as job") || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("through the daemon: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	viaDaemon := strings.Fields(stderr[strings.Index(stderr, "as job ")+7:])[0]
	if rec := d.record(t, viaDaemon); rec.State != job.Succeeded || rec.Job.Event != job.EventManual || rec.Sync.Commit != sha {
		t.Errorf("the daemon's record: %+v", rec)
	}
	code, list, _ := exitCode(t, bins.trigger, file, "--list")
	if code != 0 || !strings.Contains(list, viaDaemon) {
		t.Errorf("--list through the daemon: exit %d\n%s", code, list)
	}
	d.kill(t)

	code, stdout, stderr = exitCode(t, bins.trigger, file, "r0")
	if code != 0 || strings.Contains(stderr, "submitted to the daemon") || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("without the daemon: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, list, _ = exitCode(t, bins.trigger, file, "--list", "--repo", "r0")
	if code != 0 || strings.Count(list, "manual") != 2 || !strings.Contains(list, viaDaemon) {
		t.Errorf("--list from the store: exit %d\n%s", code, list)
	}
	code, show, _ := exitCode(t, bins.trigger, file, "--show", viaDaemon)
	if code != 0 || !strings.Contains(show, `"state": "succeeded"`) || !strings.Contains(show, "$ sleep 0.05") {
		t.Errorf("--show: exit %d\n%s", code, show)
	}
	if code, _, stderr := exitCode(t, bins.trigger, file, "--show", "nope"); code != 1 || !strings.Contains(stderr, "no job nope") {
		t.Errorf("--show of an unknown job: exit %d %s", code, stderr)
	}
}

// Deliveries answered 202 just before a kill -9, and a torn entry at the
// end of the intake log (a write the kill cut short): after the restart
// every acknowledged delivery has run (or was superseded by a newer one of
// its branch), each working copy is at its last push, and new deliveries
// are taken.
func TestIntakeLogTornTail(t *testing.T) {
	const repos = 4
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	file := crashFile(dir, up.Path(), repos).Write(t, dir)
	d := startDaemon(t, file)
	var acked []string
	last := map[int]string{}
	for k := range 3 {
		for i := range repos {
			sha := up.Commit(t, fmt.Sprintf("b%d", i), map[string]string{"n": fmt.Sprint(k)}, "c")
			a, err := d.send(pushOfR(t, i, sha, fmt.Sprintf("torn-%d-%d", i, k)))
			if err != nil || a.Code != http.StatusAccepted {
				t.Fatalf("delivery: %d %v %v", a.Code, a.Body, err)
			}
			acked, last[i] = append(acked, a.Str("job")), sha
		}
	}
	d.kill(t)
	tearIntakeLog(t, filepath.Join(dir, "state", "intake"))
	d = startDaemon(t, file)
	sha := up.Commit(t, "b0", map[string]string{"n": "after"}, "c")
	if a, err := d.send(pushOfR(t, 0, sha, "torn-after")); err != nil || a.Code != http.StatusAccepted {
		t.Fatalf("delivery after the restart: %d %v %v", a.Code, a.Body, err)
	}
	last[0] = sha
	testkit.Eventually(t, "every job to end", 120*time.Second, func() bool { return d.unfinished(t) == 0 })
	for _, id := range acked {
		if rec := d.record(t, id); rec.State != job.Succeeded && rec.State != job.Superseded && rec.State != job.Skipped {
			t.Errorf("acknowledged job %s ended %s: %s", id, rec.State, rec.Error)
		}
	}
	for i, sha := range last {
		if got := testkit.Head(t, filepath.Join(dir, fmt.Sprintf("wc-r%d", i))); got != sha {
			t.Errorf("working copy %d at %s, want the last push %s", i, got, sha)
		}
	}
}

// tearIntakeLog writes the start of an entry, cut short, after the last
// written byte of the newest segment of the intake log that holds any.
func tearIntakeLog(t *testing.T, dir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for i := len(segs) - 1; i >= 0; i-- {
		b, err := os.ReadFile(segs[i])
		if err != nil {
			t.Fatal(err)
		}
		end := len(bytes.TrimRight(b, "\x00"))
		if end == 0 {
			continue
		}
		// "WHI1", a length of 4000, a checksum, and only part of the rest.
		torn := append([]byte("WHI1\x00\x00\x0f\xa0\x12\x34\x56\x78"), bytes.Repeat([]byte("{"), 100)...)
		if err := os.WriteFile(segs[i], append(b[:end], torn...), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no intake log segment with entries in %s", dir)
}
