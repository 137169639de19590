package gitsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packWindow is the delta window used when compacting (git's default).
const packWindow = 10

// redundantPackCheck is the number of packs from which a shallow working
// copy's packs are checked for ones later fetches superseded, and how many
// more than the last upkeep left it takes to check again: with thin packs
// a fetch brings only what changed, so the first packs stay needed, and
// the check reads every reachable tree.
const redundantPackCheck = 3

// Maintain keeps the object store of the working copy at path from growing
// and slowing down (see maintain). Sync leaves it out so that the caller can
// run it after the job's commands, off the path from a delivery to its
// deploy; the caller holds the working copy's lock for it, as for Sync.
// What it did, or why it could not, goes to log; the error is for a
// working copy that could not be opened or marked, which the next Sync
// deals with. It does nothing once ctx is done, or while a killed sync's
// marker is present (the next Sync repairs the repository first).
func (s *Syncer) Maintain(ctx context.Context, path string, log io.Writer) error {
	if ctx.Err() != nil || wasInterrupted(path) || !packsChanged(filepath.Join(path, ".git")) {
		return nil
	}
	jl := newJobLog(log, nil)
	jl.logger = s.loggerFor(ctx)
	defer syncMemory.enter()()
	repo, err := plainOpen(path)
	if err != nil {
		return fmt.Errorf("open %s for maintenance: %w", path, err)
	}
	wc := newWorkingCopy(path, repo)
	defer wc.close()
	done, err := markSyncing(wc)
	if err != nil {
		return err
	}
	s.maintain(wc, path, jl)
	done()
	return nil
}

// maintain keeps the object store from growing and slowing down, as
// go-git never repacks and every fetch adds a pack that each object lookup
// has to consult. In a shallow working copy every fetch brings the whole
// tree again (go-git cannot ask for thin packs), so the packs older fetches
// left are dropped once nothing reachable needs them, and past
// s.compactPacks packs every reachable object is repacked into one pack and
// unreachable ones (force-pushed-away commits) are dropped. A full-history
// working copy past s.compactPacks packs has every pack but the largest
// merged into one (geometric-style: the big base pack is never rewritten,
// so the cost follows what was fetched since, not the history's size;
// unreachable objects are kept). A failure is
// reported in the job log and leaves the repository as it was: the sync
// itself has succeeded by then.
func (s *Syncer) maintain(wc *workingCopy, path string, jl *jobLog) {
	pos, ok := wc.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return
	}
	if n := removeTempPacks(wc); n > 0 {
		jl.printf("removed %d unfinished pack files a failed write left", n)
	}
	packs, err := pos.ObjectPacks()
	if err != nil {
		return
	}
	last := readPackState(wc.gitDir)
	if last.same(packs) {
		return // nothing was fetched since the last upkeep: it would find what it found then
	}
	checked := false
	defer func() { writePackState(wc, pos, last, checked) }()
	start := time.Now()
	switch s.upkeepFor(wc, packs, last) {
	case upkeepCompact:
		var n int
		if n, err = compact(wc, pos, packs); err == nil {
			jl.printf("compacted %d packs into one (%d objects) in %s", len(packs), n,
				time.Since(start).Round(time.Millisecond))
		}
	case upkeepMerge:
		var m, n int
		var copied bool
		if m, n, copied, err = mergePacks(wc, pos, packs); err == nil && m > 0 {
			how := "copied as stored"
			if !copied {
				how = "encoded again"
			}
			jl.printf("merged %d packs into one (%d objects, %s), keeping the largest, in %s", m, n, how,
				time.Since(start).Round(time.Millisecond))
		}
	case upkeepCheck:
		checked = true
		var n int
		if n, err = dropRedundantPacks(wc, pos, packs); err == nil && n > 0 {
			jl.printf("dropped %d packs superseded by later fetches", n)
		}
	}
	if err != nil {
		jl.printf("compact objects: %v (skipped; the sync itself succeeded)", err)
		jl.logger.Warn().Err(err).Str("path", path).Msg("compact objects failed")
	}
}

// upkeep is what maintain does beside recording the packs it found.
type upkeep int

const (
	upkeepNone    upkeep = iota
	upkeepCompact        // repack every reachable object of a shallow copy
	upkeepMerge          // merge every pack but the largest
	upkeepCheck          // drop a shallow copy's packs later fetches superseded
)

// upkeepFor is what maintain does with packs when the last upkeep left
// last (and packs are not those).
func (s *Syncer) upkeepFor(wc *workingCopy, packs []plumbing.Hash, last packState) upkeep {
	shallow := isShallow(wc)
	switch {
	case len(packs) >= s.compactPacks && shallow:
		return upkeepCompact
	case len(packs) >= s.compactPacks:
		return upkeepMerge
	case len(packs) >= max(redundantPackCheck, last.checked+redundantPackCheck) && shallow:
		return upkeepCheck
	}
	return upkeepNone
}

// UpkeepDue reports whether Maintain would do more at path than look: a
// repack or merge of its packs, or a check for packs later fetches
// superseded, each of which reads objects and may take a while on a large
// repository. It lists the pack folder, and opens the repository only
// when the packs changed since the last upkeep.
func (s *Syncer) UpkeepDue(path string) bool {
	if wasInterrupted(path) || !packsChanged(filepath.Join(path, ".git")) {
		return false
	}
	repo, err := plainOpen(path)
	if err != nil {
		return false
	}
	wc := newWorkingCopy(path, repo)
	defer wc.close()
	pos, ok := repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return false
	}
	packs, err := pos.ObjectPacks()
	if err != nil {
		return false
	}
	last := readPackState(wc.gitDir)
	return !last.same(packs) && s.upkeepFor(wc, packs, last) != upkeepNone
}

func compact(wc *workingCopy, pos storer.PackedObjectStorer, packs []plumbing.Hash) (int, error) {
	seen, shallow, err := reachableIn(wc)
	if err != nil {
		return 0, err
	}
	if len(seen) == 0 {
		return 0, nil
	}
	hashes := make([]plumbing.Hash, 0, len(seen))
	for h := range seen {
		hashes = append(hashes, h)
	}
	pack, err := writePack(wc.repo.Storer, hashes, packWindow)
	if err != nil {
		return 0, err
	}
	for _, old := range packs {
		if old != pack {
			if err := pos.DeleteOldObjectPackAndIndex(old, time.Time{}); err != nil {
				return 0, fmt.Errorf("delete old pack %s: %w", old, err)
			}
		}
	}
	wc.packsDeleted()
	if err := deleteLoose(wc.repo.Storer, seen); err != nil {
		return 0, err
	}
	return len(hashes), pruneShallow(wc, shallow, seen)
}

// pruneShallow keeps the shallow commits that are reachable or still
// stored: with depth 1 every fetch adds one, and go-git sends them all to
// the server on every fetch.
func pruneShallow(wc *workingCopy, shallow []plumbing.Hash, reachable map[plumbing.Hash]struct{}) error {
	keep := shallow[:0:0]
	for _, h := range shallow {
		if _, ok := reachable[h]; ok || hasObject(wc, h) {
			keep = append(keep, h)
		}
	}
	if len(keep) == len(shallow) {
		return nil
	}
	return setShallow(wc, keep)
}

func writePack(s storer.EncodedObjectStorer, hashes []plumbing.Hash, window uint) (h plumbing.Hash, err error) {
	w, err := newPackWriter(s)
	if err != nil {
		return h, err
	}
	h, err = packfile.NewEncoder(w, s, false).Encode(hashes, window)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return h, fmt.Errorf("write pack: %w", err)
	}
	return h, nil
}

// newPackWriter returns the storage's writer of a new pack, which indexes
// the pack as it is written and adds it to the storage when closed.
func newPackWriter(s storer.EncodedObjectStorer) (io.WriteCloser, error) {
	pw, ok := s.(storer.PackfileWriter)
	if !ok {
		return nil, errors.New("write pack: storage cannot write packs")
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return nil, fmt.Errorf("write pack: %w", err)
	}
	return w, nil
}

func deleteLoose(s storer.EncodedObjectStorer, packed map[plumbing.Hash]struct{}) error {
	los, ok := s.(storer.LooseObjectStorer)
	if !ok {
		return nil
	}
	return los.ForEachObjectHash(func(h plumbing.Hash) error {
		if _, ok := packed[h]; ok {
			return los.DeleteLooseObject(h)
		}
		return nil
	})
}

// reachableIn is reachable for the working copy's repository, and its
// shallow list.
func reachableIn(wc *workingCopy) (seen map[plumbing.Hash]struct{}, shallow []plumbing.Hash, err error) {
	if shallow, err = wc.repo.Storer.Shallow(); err != nil {
		return nil, nil, fmt.Errorf("read shallow list: %w", err)
	}
	if seen = reachableFromIndex(wc, shallow); seen != nil {
		return seen, shallow, nil
	}
	seen, err = reachable(wc.repo.Storer, shallow)
	return seen, shallow, err
}

// readPackIndex reads the pack index file at path.
func readPackIndex(path string) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bufio.NewReaderSize(f, packIndexBuffer)).Decode(idx); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return idx, nil
}

// reachable lists every object reachable from the references (HEAD
// included), stopping at shallow commits as git does and skipping submodule
// commits, which live in another repository. go-git's own RepackObjects
// walks neither correctly: it fails on shallow and submodule repositories.
func reachable(s storer.Storer, shallow []plumbing.Hash) (map[plumbing.Hash]struct{}, error) {
	cut := make(map[plumbing.Hash]bool, len(shallow))
	for _, h := range shallow {
		cut[h] = true
	}
	stack, err := refTips(s)
	if err != nil {
		return nil, err
	}
	w := &walker{s: s, cut: cut, seen: make(map[plumbing.Hash]struct{})}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		more, err := w.visit(h)
		if err != nil {
			return nil, err
		}
		stack = append(stack, more...)
	}
	return w.seen, nil
}

// refTips lists the objects the references name, and HEAD when it names
// one itself (a symbolic HEAD names a reference that is listed).
func refTips(s storer.Storer) ([]plumbing.Hash, error) {
	var tips []plumbing.Hash
	refs, err := s.IterReferences()
	if err != nil {
		return nil, err
	}
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			tips = append(tips, r.Hash())
		}
		return nil
	})
	if head, err := s.Reference(plumbing.HEAD); err == nil && head.Type() == plumbing.HashReference {
		tips = append(tips, head.Hash())
	}
	return tips, nil
}

type walker struct {
	s    storer.EncodedObjectStorer
	cut  map[plumbing.Hash]bool
	seen map[plumbing.Hash]struct{}
}

// visit marks h and returns the objects it points to.
func (w *walker) visit(h plumbing.Hash) ([]plumbing.Hash, error) {
	if _, ok := w.seen[h]; ok {
		return nil, nil
	}
	o, err := w.s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("read object %s: %w", h, err)
	}
	w.seen[h] = struct{}{}
	switch o.Type() {
	case plumbing.CommitObject:
		c, err := object.DecodeCommit(w.s, o)
		if err != nil {
			return nil, err
		}
		next := []plumbing.Hash{c.TreeHash}
		if !w.cut[h] {
			next = append(next, c.ParentHashes...)
		}
		return next, nil
	case plumbing.TreeObject:
		return w.treeChildren(o)
	case plumbing.TagObject:
		t, err := object.DecodeTag(w.s, o)
		if err != nil {
			return nil, err
		}
		return []plumbing.Hash{t.Target}, nil
	}
	return nil, nil
}

func (w *walker) treeChildren(o plumbing.EncodedObject) ([]plumbing.Hash, error) {
	t, err := object.DecodeTree(w.s, o)
	if err != nil {
		return nil, err
	}
	var next []plumbing.Hash
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Submodule:
		case filemode.Dir:
			next = append(next, e.Hash)
		default:
			// A blob: nothing to read, nor to look up here. go-git's
			// HasEncodedObject tries the loose file first, through a path
			// it resolves component by component: for a tree of 20,000
			// files that was most of the upkeep's time. Both callers find
			// a missing blob before they delete anything: compact cannot
			// write it, dropRedundantPacks finds it in no pack.
			w.seen[e.Hash] = struct{}{}
		}
	}
	return next, nil
}
