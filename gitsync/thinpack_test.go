package gitsync

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// watched is a smart HTTP upstream whose upload-pack answers are counted
// (and corrupted on demand), with git's packet trace of the server side.
type watched struct {
	url     string
	trace   string // GIT_TRACE_PACKET file of the server side
	sent    atomic.Int64
	corrupt atomic.Bool
	// lastByte flips the pack's last byte (its checksum) instead; cut
	// sends only the first half of the answer.
	lastByte, cut atomic.Bool
}

func watch(t *testing.T, up *gitsynctest.Upstream) *watched {
	t.Helper()
	w := &watched{trace: filepath.Join(t.TempDir(), "packet.trace")}
	w.url = up.ServeHTTPWrapped(t, w.wrap, "GIT_TRACE_PACKET="+w.trace)
	return w
}

// wrap passes requests through, counting the bytes of upload-pack answers
// and, when corrupt is set, flipping a byte inside the pack they carry.
func (w *watched) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch {
		case w.corrupt.Load():
			flipPackByte(body)
		case w.lastByte.Load():
			flipLastPackByte(body)
		case w.cut.Load():
			body = body[:len(body)/2]
		}
		w.sent.Add(int64(len(body)))
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(body)
	})
}

// flipPackByte inverts a byte in the middle of the first pkt-line that
// carries the pack, leaving the pkt-line framing intact.
func flipPackByte(body []byte) {
	i := bytes.Index(body, []byte("PACK"))
	if i < 5 {
		return
	}
	n, err := strconv.ParseUint(string(body[i-5:i-1]), 16, 16)
	if err != nil {
		return
	}
	end := i - 5 + int(n) // the pkt-line's end
	pos := max(i+12, i+(end-i)/2)
	if pos < end {
		body[pos] ^= 0xff
	}
}

// flipLastPackByte inverts the last byte of the last pkt-line of side-band
// 1, the last byte of the pack's trailing checksum.
func flipLastPackByte(body []byte) {
	last := -1
	for i := 0; i+4 <= len(body); {
		n, err := strconv.ParseUint(string(body[i:i+4]), 16, 16)
		if err != nil {
			return
		}
		if n < 4 { // a flush, delim or end packet
			i += 4
			continue
		}
		if n > 5 && body[i+4] == 1 {
			last = i + int(n) - 1
		}
		i += int(n)
	}
	if last >= 0 {
		body[last] ^= 0xff
	}
}

// requests is what the server side's trace says upload-pack was asked:
// its first want line of each request.
func (w *watched) requests(t *testing.T) string {
	t.Helper()
	var lines []string
	for l := range strings.Lines(testkit.ReadIfExists(w.trace)) {
		if strings.Contains(l, "upload-pack< want ") {
			lines = append(lines, strings.TrimSpace(l[strings.Index(l, "want "):]))
		}
	}
	return strings.Join(lines, "\n")
}

// bigText is n lines of seeded random words: content that deltas well
// against an edited copy but does not compress away.
func bigText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d %x %x\n", i, r.Uint64(), r.Uint64())
	}
	return b.String()
}

// edit changes line i of text.
func edit(text string, i int, to string) string {
	lines := strings.SplitAfter(text, "\n")
	lines[i] = to + "\n"
	return strings.Join(lines, "")
}

// bigTree is files large enough that a whole tree sent again dwarfs a thin
// pack (about 1.5 MB).
func bigTree() map[string]string {
	files := map[string]string{}
	for i := range 24 {
		files[fmt.Sprintf("src/f%02d.txt", i)] = bigText(uint64(i), 1500)
	}
	return files
}

// edits is the big tree, then a commit that edits a file, deletes one,
// renames one and adds one: the first commit and the second.
func edits(t *testing.T, up *gitsynctest.Upstream) (string, string) {
	t.Helper()
	first := up.Commit(t, "main", bigTree(), "first")
	return first, up.Commit(t, "main", map[string]string{
		"src/f00.txt":   edit(bigText(0, 1500), 700, "changed"),
		"src/f01.txt":   gitsynctest.Deleted,
		"src/f02.txt":   gitsynctest.Deleted, // renamed:
		"moved/f02.txt": bigText(2, 1500),
		"new.txt":       "new",
	}, "change")
}

// manyEdits is more files than rawBasesMin, then a commit that edits
// every one: a thin pack of as many deltas on bases the working copy
// keeps whole in its pack, which are copied from there as they lie.
func manyEdits(t *testing.T, up *gitsynctest.Upstream) (string, string) {
	t.Helper()
	files, changed := map[string]string{}, map[string]string{}
	for i := range 3 * rawBasesMin { // git sends about half as deltas on them
		p := fmt.Sprintf("src/m%03d.txt", i)
		files[p] = bigText(uint64(100+i), 300)
		changed[p] = edit(files[p], 150, "changed")
	}
	first := up.Commit(t, "main", files, "first")
	return first, up.Commit(t, "main", changed, "every file")
}

// TestThinPackDamagedLocalBase: a base copied from a local pack as it
// lies is checked first; one damaged there refuses the pack, and the
// working copy stays at its commit.
func TestThinPackDamagedLocalBase(t *testing.T) {
	t.Parallel()
	f, _, tg, first, _ := deployedOverHTTP(t, manyEdits)

	idx, _ := filepath.Glob(filepath.Join(f.path, ".git", "objects", "pack", "pack-*.idx"))
	if len(idx) != 1 {
		t.Fatalf("packs: %v", idx)
	}
	blob := testkit.Git(t, f.path, "rev-parse", first+":src/m000.txt")
	var offs []int64
	at := int64(-1)
	show := exec.Command("git", "show-index")
	show.Stdin = strings.NewReader(testkit.ReadIfExists(idx[0]))
	out, err := show.Output()
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(out)) {
		fields := strings.Fields(l)
		off, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
		if fields[1] == blob {
			at = off
		}
	}
	end := int64(math.MaxInt64)
	for _, o := range offs {
		if o > at && o < end {
			end = o
		}
	}
	pack := strings.TrimSuffix(idx[0], ".idx") + ".pack"
	data, err := os.ReadFile(pack)
	if at < 0 || end == math.MaxInt64 || err != nil {
		t.Fatalf("entry of %s at %d..%d: %v", blob, at, end, err)
	}
	data[(at+end)/2] ^= 0xff
	if err := os.WriteFile(pack, data, 0o644); err != nil {
		t.Fatal(err)
	}

	_, log, err := f.trySync(tg)
	if err == nil {
		t.Fatalf("a pack built on a damaged base was stored:\n%s", log)
	}
	t.Logf("refused: %v", err)
	assertClean(t, f.path, first)
}

func TestThinPackFetch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		depth int
		// build makes the upstream's history and returns the commit
		// deployed first and the one fetched after.
		build func(t *testing.T, up *gitsynctest.Upstream) (string, string)
		// prepare runs after the first deploy.
		prepare func(t *testing.T, f *fixture)
	}{
		{"edits, depth 1", 1, edits, nil},
		{"edits, full history", 0, edits, nil},
		{"edits, bases only loose, depth 1", 1, edits, explodePacks},
		{"edits, bases only loose, full history", 0, edits, explodePacks},
		{"force-push to an older side branch, depth 1", 1, sideBranch, nil},
		{"force-push to an older side branch, full history", 0, sideBranch, nil},
		{"deep delta chains, depth 1", 1, deltaChain, nil},
		{"deep delta chains, full history", 0, deltaChain, nil},
		{"every file edited: bases copied as stored, depth 1", 1, manyEdits, nil},
		{"every file edited: bases copied as stored, full history", 0, manyEdits, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := watch(t, f.up)
			first, next := tc.build(t, f.up)
			f.up.ForcePush(t, "main", first)
			gitCopy := gitClone(t, w.url, tc.depth)
			tg := f.target()
			tg.Remote, tg.Depth = w.url, tc.depth
			f.sync(t, tg)
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			f.up.ForcePush(t, "main", next)
			gitBytes := gitFetch(t, w, gitCopy, tc.depth)
			w.sent.Store(0)
			_ = os.Remove(w.trace)
			f.sync(t, tg)
			assertThin(t, w, gitBytes)
			assertSame(t, f.path, gitCopy, next)
		})
	}
}

// assertThin checks that the last fetch asked for a thin pack and got
// about as many bytes as git did.
func assertThin(t *testing.T, w *watched, gitBytes int64) {
	t.Helper()
	req := w.requests(t)
	if !strings.Contains(req, " thin-pack") {
		t.Errorf("the request did not ask for thin-pack:\n%s", req)
	}
	if got := w.sent.Load(); float64(got) > 1.1*float64(gitBytes) {
		t.Errorf("fetched %d bytes, git fetched %d (more than 10%% less)", got, gitBytes)
	}
	t.Logf("fetched %d bytes, git %d", w.sent.Load(), gitBytes)
}

// assertSame checks the working copy is sha, whole (git fsck), with the
// same files as git's own copy.
func assertSame(t *testing.T, path, gitCopy, sha string) {
	t.Helper()
	assertClean(t, path, sha)
	testkit.Git(t, path, "fsck", "--no-progress", "--no-dangling", "--strict")
	got, want := files(t, path), files(t, gitCopy)
	if len(got) != len(want) {
		t.Errorf("%d files, git has %d", len(got), len(want))
	}
	for p, c := range want {
		if got[p] != c {
			t.Errorf("%s differs from git's copy", p)
		}
	}
}

// gitClone clones url with the git CLI at depth (0: full history).
func gitClone(t *testing.T, url string, depth int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "git")
	args := []string{"clone", "--quiet", "--single-branch", "-b", "main"}
	if depth > 0 {
		args = append(args, "--depth="+strconv.Itoa(depth))
	}
	testkit.Git(t, t.TempDir(), append(args, url, dir)...)
	return dir
}

// gitFetch fetches main into the git CLI's copy as the bench does, and
// returns the bytes the server sent for it.
func gitFetch(t *testing.T, w *watched, dir string, depth int) int64 {
	t.Helper()
	w.sent.Store(0)
	args := []string{"fetch", "--quiet", "origin", "main"}
	if depth > 0 {
		args = append(args, "--depth="+strconv.Itoa(depth))
	}
	testkit.Git(t, dir, args...)
	testkit.Git(t, dir, "reset", "--quiet", "--hard", "FETCH_HEAD")
	return w.sent.Load()
}

// explodePacks turns every packed object of the working copy into a loose
// object, so that a thin pack's bases are found only loose.
func explodePacks(t *testing.T, f *fixture) {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(f.path, ".git", "objects", "pack", "pack-*.pack"))
	aside := t.TempDir()
	for _, p := range packs {
		moved := filepath.Join(aside, filepath.Base(p))
		if err := os.Rename(p, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(strings.TrimSuffix(p, ".pack") + ".idx"); err != nil {
			t.Fatal(err)
		}
		unpack(t, f.path, moved)
	}
}

// unpack runs git unpack-objects on pack in the repository at dir.
func unpack(t *testing.T, dir, pack string) {
	t.Helper()
	in, err := os.Open(pack)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("git", "unpack-objects", "-q")
	cmd.Dir, cmd.Stdin = dir, in
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git unpack-objects: %v: %s", err, out)
	}
}

// sideBranch is main with a few commits on top of the big tree and a side
// branch forked from its first commit: main's tip, then the side's.
func sideBranch(t *testing.T, up *gitsynctest.Upstream) (string, string) {
	t.Helper()
	fork := up.Commit(t, "main", bigTree(), "first")
	for i := range 3 {
		up.Commit(t, "main", map[string]string{fmt.Sprintf("src/f%02d.txt", i): bigText(100+uint64(i), 1500)}, "main")
	}
	up.ForcePush(t, "side", fork)
	up.Commit(t, "side", map[string]string{"src/f05.txt": edit(bigText(5, 1500), 3, "side"),
		"src/f06.txt": gitsynctest.Deleted}, "side")
	return up.Head(t, "main"), up.Head(t, "side")
}

// deltaChain is 60 commits each editing one line of one large file,
// repacked so that each version is a delta of the next in one long chain:
// the 30th commit, then the 60th.
func deltaChain(t *testing.T, up *gitsynctest.Upstream) (string, string) {
	t.Helper()
	text := bigText(7, 3000)
	var mid string
	for i := range 60 {
		text = edit(text, i*40, fmt.Sprint("edit ", i))
		sha := up.Commit(t, "main", map[string]string{"big.txt": text, "small.txt": fmt.Sprint(i)}, "edit")
		if i == 29 {
			mid = sha
		}
	}
	up.Git(t, "repack", "-adf", "-q", "--depth=200", "--window=250")
	return mid, up.Head(t, "main")
}

// deployedOverHTTP is a fixture served over smart HTTP whose working copy
// is at the first of the commits build makes, the upstream's main moved
// to the second since.
func deployedOverHTTP(t *testing.T, build func(*testing.T, *gitsynctest.Upstream) (string, string)) (
	f *fixture, w *watched, tg Target, first, next string) {
	t.Helper()
	f = newFixture(t)
	w = watch(t, f.up)
	first, next = build(t, f.up)
	f.up.ForcePush(t, "main", first)
	tg = f.target()
	tg.Remote = w.url
	f.sync(t, tg)
	f.up.ForcePush(t, "main", next)
	return f, w, tg, first, next
}

func TestThinPackCorrupt(t *testing.T) {
	t.Parallel()
	f, w, tg, first, next := deployedOverHTTP(t, edits)
	before := files(t, f.path)

	w.corrupt.Store(true)
	_, log, err := f.trySync(tg)
	if err == nil {
		t.Fatalf("a corrupted pack was accepted:\n%s", log)
	}
	t.Logf("refused: %v", err)
	assertClean(t, f.path, first)
	if got := files(t, f.path); len(got) != len(before) || got["src/f00.txt"] != before["src/f00.txt"] {
		t.Errorf("the working copy changed")
	}
	if tmp, _ := filepath.Glob(filepath.Join(f.path, ".git", "objects", "pack", "tmp_*")); len(tmp) > 0 {
		t.Errorf("left behind: %v", tmp)
	}
	testkit.Git(t, f.path, "fsck", "--no-progress", "--no-dangling", "--strict")

	w.corrupt.Store(false)
	f.sync(t, tg)
	assertClean(t, f.path, next)
}

func TestThinPackRemotes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote func(up *gitsynctest.Upstream) string
	}{
		{"file path", func(up *gitsynctest.Upstream) string { return up.Path() }},
		{"file:// URL", func(up *gitsynctest.Upstream) string { return "file://" + up.Path() }},
		{"smart http", func(up *gitsynctest.Upstream) string { return up.ServeHTTP(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			first, next := edits(t, f.up)
			f.up.ForcePush(t, "main", first)
			tg := f.target()
			tg.Remote = tc.remote(f.up)
			f.sync(t, tg)
			f.up.ForcePush(t, "main", next)
			f.sync(t, tg)
			assertClean(t, f.path, next)
			testkit.Git(t, f.path, "fsck", "--no-progress", "--no-dangling", "--strict")
			if got := testkit.ReadFile(t, filepath.Join(f.path, "moved", "f02.txt")); got != bigText(2, 1500) {
				t.Error("the renamed file's content differs")
			}
		})
	}
}

// TestByteBudget checks the bound on delta bases held between reading and
// compressing them: a take waits while what it asks would go past the
// bound, until enough is given back, and a single take larger than the
// bound goes ahead when nothing is held.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(10)
	b.take(20) // alone: not held back
	b.give(20)
	b.take(6)
	took := make(chan struct{})
	go func() {
		b.take(6)
		close(took)
	}()
	select {
	case <-took:
		t.Fatal("a take past the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	b.give(6)
	select {
	case <-took:
	case <-time.After(5 * time.Second):
		t.Fatal("a take did not go ahead once the bytes were given back")
	}
}
