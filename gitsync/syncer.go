package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/rs/zerolog"
)

// Syncer brings working copies to exact commits. It holds no state about
// any working copy: one Syncer may sync different paths concurrently, but
// the caller must not run two syncs of the same path at once.
type Syncer struct {
	logger zerolog.Logger
	// staleLock is the age past which a .git/index.lock left by another
	// process is removed; a younger one is waited for.
	staleLock time.Duration
	// compactPacks is the number of pack files at which objects are
	// compacted into one.
	compactPacks int
	// sshDialTimeout bounds an SSH connection when the context has no
	// deadline (go-git does not pass the context to the SSH dialer).
	sshDialTimeout time.Duration
	// historyWalk bounds the commits read to find a delivered commit in
	// the history of the tip.
	historyWalk int
}

// New returns a Syncer that logs one event per sync (and per notable
// fact, such as overwritten local edits) to logger.
func New(logger zerolog.Logger) *Syncer {
	return &Syncer{
		logger:         logger,
		staleLock:      10 * time.Second,
		compactPacks:   24,
		sshDialTimeout: 30 * time.Second,
		historyWalk:    10000,
	}
}

// Sync brings the working copy at t.Path to t.Commit (or to the tip of
// t.Ref, saying in Result.Delivered how t.Delivered relates to it), cloning
// it first if needed. Short human-readable lines about what it does go to
// log (nil discards them); no secret is ever written there, to the logger
// or into an error. On error the working copy is left consistent: a later
// Sync carries on from where this one stopped, with nothing to repair.
func (s *Syncer) Sync(ctx context.Context, t Target, log io.Writer) (Result, error) {
	if err := t.validate(); err != nil {
		return Result{}, err
	}
	ctx, cancel, rem, err := s.begin(ctx, t)
	defer cancel()
	if err != nil {
		return Result{}, err
	}
	jl := newJobLog(log, rem.secretList())
	jl.logger = s.loggerFor(ctx)
	leave := syncMemory.enter()
	res, err := s.sync(ctx, t, rem, jl)
	leave()
	if err != nil {
		return res, scrub(err, rem.secretList())
	}
	ev := jl.logger.Info().Str("path", t.Path).Str("ref", t.Ref).Str("commit", res.Commit).
		Str("previous", res.Previous).Bool("cloned", res.Cloned)
	if res.Delivered != "" {
		ev = ev.Str("tip", res.Tip).Str("delivered", res.Delivered)
	}
	ev.Int("written", res.Written).Int("removed", res.Removed).
		Int("overwritten", len(res.Overwritten)).Msg("working copy synced")
	return res, nil
}

// begin bounds ctx by t.Timeout and prepares t's remote, with the secrets
// scrubbed from an error. cancel must be called, also after an error.
func (s *Syncer) begin(ctx context.Context, t Target) (context.Context, context.CancelFunc, *remote, error) {
	cancel := context.CancelFunc(func() {})
	if t.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
	}
	rem, err := s.newRemote(ctx, t)
	if err != nil {
		return ctx, cancel, rem, scrub(err, rem.secretList())
	}
	return ctx, cancel, rem, nil
}

func (s *Syncer) sync(ctx context.Context, t Target, rem *remote, jl *jobLog) (Result, error) {
	wc, op, err := s.openForSync(t, rem, jl)
	if err != nil {
		return Result{}, err
	}
	defer wc.close() // read-only pack descriptors: nothing to lose
	done, err := markSyncing(wc)
	if err != nil {
		return Result{}, err
	}
	res, settled, err := s.apply(ctx, wc, t, rem, op, jl)
	if settled {
		done()
	}
	return res, err
}

// apply fetches the commit and writes it into the working copy. settled is
// false only when it stopped where .git may be left inconsistent, so that
// the marker stays and the next sync repairs: a failed fetch is settled
// (what it left half-done is undone), and so is a failed checkout (the
// index it writes always describes the files on disk).
func (s *Syncer) apply(ctx context.Context, wc *workingCopy, t Target, rem *remote, op opened,
	jl *jobLog) (res Result, settled bool, err error) {
	prev := wc.headCommit()
	res.Previous = op.previous
	if !prev.IsZero() {
		res.Previous = prev.String()
	}
	if err := s.waitIndexLock(ctx, wc, jl); err != nil {
		return res, true, err
	}
	if prev.IsZero() {
		wc.early = newEarlyCheckout(wc, plumbing.NewHash(t.Commit), jl) // zero without one
	}
	got, err := s.fetchCommit(ctx, wc, t, rem, jl)
	early := wc.early.settle(got.commit, err == nil)
	wc.early = nil
	if err != nil {
		return res, settleFetch(wc, jl), err
	}
	if !got.tip.IsZero() {
		res.Tip = got.tip.String()
	}
	if t.Commit == "" && t.Delivered != "" {
		res.Delivered = s.relate(wc, t, got.tip, jl)
	}
	tracked, err := s.checkout(ctx, wc, t, prev, got.commit, early, &res, jl)
	if err != nil {
		return res, true, err
	}
	if err := setHead(wc, t.Ref, got.commit); err != nil {
		return res, false, err
	}
	res.Commit, res.Cloned = got.commit.String(), op.created
	res.Subject, res.Author = commitLine(wc, got.commit)
	return res, true, s.finish(ctx, wc, t, rem, tracked, &res, jl)
}

// finish runs what follows the checkout: the clean and the submodules.
func (s *Syncer) finish(ctx context.Context, wc *workingCopy, t Target, rem *remote,
	tracked map[string]*index.Entry, res *Result, jl *jobLog) error {
	var err error
	if t.Clean {
		if res.Cleaned, err = clean(wc.path, tracked, jl); err != nil {
			return fmt.Errorf("clean %s: %w", wc.path, err)
		}
	}
	if t.Submodules {
		return s.updateSubmodules(ctx, wc, rem, jl)
	}
	return nil
}

// checkout writes the commit's tree and index, reports what it changed,
// and returns the new index entries. early are the files a first clone
// wrote as its pack arrived (see earlyCheckout), or nil.
func (s *Syncer) checkout(ctx context.Context, wc *workingCopy, t Target, prev, commit plumbing.Hash,
	early *earlyCheckout, res *Result, jl *jobLog) (map[string]*index.Entry, error) {
	co, err := newCheckout(ctx, wc, prev, commit, jl, early)
	if err != nil {
		early.undo()
		return nil, fmt.Errorf("checkout %s: %w", short(commit), err)
	}
	err = co.run()
	res.Written, res.Removed, res.Overwritten = co.written, co.removed, co.overwritten
	for _, p := range co.overwritten {
		jl.logger.Warn().Str("path", t.Path).Str("file", p).Str("commit", commit.String()).
			Msg("local change overwritten by checkout")
	}
	if err != nil {
		return nil, fmt.Errorf("checkout %s: %w", short(commit), err)
	}
	from := "empty working copy"
	if res.Previous != "" { // after a repair, the commit the old .git had
		from = res.Previous[:7]
	}
	jl.printf("checkout %s from %s: %d written, %d removed", short(commit), from, co.written, co.removed)
	if co.fromEarly > 0 {
		jl.printf("%d of the files written as the pack arrived", co.fromEarly)
	}
	return co.next, nil
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// validate checks what can be checked without touching the disk.
func (t Target) validate() error {
	var errs []error
	if t.Remote == "" {
		errs = append(errs, errors.New("remote: must not be empty"))
	} else if strings.HasPrefix(t.Remote, "-") {
		errs = append(errs, errors.New("remote: must not start with '-'"))
	}
	if !filepath.IsAbs(t.Path) || filepath.Clean(t.Path) == "/" {
		errs = append(errs, fmt.Errorf("path: must be an absolute path below / (got %q)", t.Path))
	}
	errs = append(errs, t.validateRefs()...)
	for _, f := range []struct{ name, value string }{{"commit", t.Commit}, {"delivered", t.Delivered}} {
		if f.value != "" && !shaPattern.MatchString(f.value) {
			errs = append(errs, fmt.Errorf("%s: must be a full lowercase SHA-1 (got %q)", f.name, f.value))
		}
	}
	if t.Depth < 0 {
		errs = append(errs, fmt.Errorf("depth: must not be negative (got %d)", t.Depth))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid sync target: %w", err)
	}
	return nil
}

// validateRefs checks Ref (refs/heads/B, refs/tags/T, a short name, or
// empty with a commit) and Fallback (empty or refs/heads/B).
func (t Target) validateRefs() []error {
	var errs []error
	switch name := plumbing.ReferenceName(t.Ref); {
	case t.Ref == "" && t.Commit == "":
		errs = append(errs, errors.New("ref: must not be empty without a commit"))
	case t.Ref == "":
	case strings.HasPrefix(t.Ref, "refs/"):
		if (!name.IsBranch() && !name.IsTag()) || !validRefName(name) {
			errs = append(errs, fmt.Errorf("ref: must be a valid refs/heads/B, refs/tags/T or short name (got %q)", t.Ref))
		}
	case strings.HasPrefix(t.Ref, "-") || !validRefName(plumbing.NewBranchReferenceName(t.Ref)):
		errs = append(errs, fmt.Errorf("ref: must be a valid refs/heads/B, refs/tags/T or short name (got %q)", t.Ref))
	}
	if name := plumbing.ReferenceName(t.Fallback); t.Fallback != "" && (!name.IsBranch() || !validRefName(name)) {
		errs = append(errs, fmt.Errorf("fallback: must be a valid refs/heads/B (got %q)", t.Fallback))
	}
	return errs
}

// validRefName is go-git's check without its refusal of a branch or tag
// starting with '-': git itself stores, pushes and fetches refs/heads/-rf
// (only `git branch` refuses to create one), and the name never reaches a
// command line here, so such a branch can be deployed like any other.
func validRefName(name plumbing.ReferenceName) bool {
	s := string(name)
	for _, prefix := range []string{"refs/heads/-", "refs/tags/-"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s = prefix[:len(prefix)-1] + "x" + rest
		}
	}
	return plumbing.ReferenceName(s).Validate() == nil
}

// short is the 7-character abbreviation of h used in logs and errors.
func short(h plumbing.Hash) string {
	return h.String()[:7]
}

// jobLog writes short lines to the job's log, never a secret.
type jobLog struct {
	w       io.Writer
	secrets []string
	// logger is the daemon's logger for this sync: the one the caller put
	// in the context (with its job fields), else the Syncer's own.
	logger *zerolog.Logger
}

// loggerFor returns the logger attached to ctx with zerolog's WithContext,
// or the Syncer's own when there is none (zerolog.Ctx would then return a
// disabled logger and the lines would be lost).
func (s *Syncer) loggerFor(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return &s.logger
}

func newJobLog(w io.Writer, secrets []string) *jobLog {
	if w == nil {
		w = io.Discard
	}
	nop := zerolog.Nop()
	return &jobLog{w: w, secrets: secrets, logger: &nop}
}

func (l *jobLog) printf(format string, args ...any) {
	line := redactSecrets(fmt.Sprintf(format, args...), l.secrets)
	_, _ = io.WriteString(l.w, line+"\n") // the job log is best effort
}

// listf logs one line per item, at most limit of them, then a count.
func (l *jobLog) listf(limit int, format string, items []string) {
	for i, it := range items {
		if i == limit {
			l.printf("... and %d more", len(items)-limit)
			return
		}
		l.printf(format, it)
	}
}
