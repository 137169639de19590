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
}

// New returns a Syncer that logs one event per sync (and per notable
// fact, such as overwritten local edits) to logger.
func New(logger zerolog.Logger) *Syncer {
	return &Syncer{
		logger:         logger,
		staleLock:      10 * time.Second,
		compactPacks:   24,
		sshDialTimeout: 30 * time.Second,
	}
}

// Sync brings the working copy at t.Path to t.Commit (or to the tip of
// t.Ref), cloning it first if needed. Short human-readable lines about what
// it does go to log (nil discards them); no secret is ever written there,
// to the logger or into an error. On error the working copy is left
// consistent: a later Sync carries on from where this one stopped.
func (s *Syncer) Sync(ctx context.Context, t Target, log io.Writer) (Result, error) {
	if err := t.validate(); err != nil {
		return Result{}, err
	}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	rem, err := s.newRemote(ctx, t)
	if err != nil {
		return Result{}, scrub(err, rem.secretList())
	}
	jl := newJobLog(log, rem.secretList())
	jl.logger = s.loggerFor(ctx)
	res, err := s.sync(ctx, t, rem, jl)
	if err != nil {
		return res, scrub(err, rem.secretList())
	}
	jl.logger.Info().Str("path", t.Path).Str("ref", t.Ref).Str("sha", res.Commit).
		Str("previous", res.Previous).Bool("cloned", res.Cloned).
		Int("written", res.Written).Int("removed", res.Removed).
		Int("overwritten", len(res.Overwritten)).Msg("working copy synced")
	return res, nil
}

func (s *Syncer) sync(ctx context.Context, t Target, rem *remote, jl *jobLog) (Result, error) {
	var wc *workingCopy
	var err error
	switch {
	case repairWasInterrupted(t.Path):
		jl.printf("a repair of %s was interrupted; making its repository again", t.Path)
		wc, err = s.remake(t, rem, jl)
	case wasInterrupted(t.Path):
		// Checked before opening: a kill while go-git rewrote HEAD in place
		// leaves a .git that does not even open.
		wc, err = s.repair(t, rem, jl)
	default:
		wc, err = s.open(t, rem, jl)
	}
	if err != nil {
		return Result{}, err
	}
	if wc, err = s.repairInterrupted(wc, t, rem, jl); err != nil {
		return Result{}, err
	}
	defer wc.close() // read-only pack descriptors: nothing to lose
	done, err := markSyncing(wc)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	prev := wc.headCommit()
	if !prev.IsZero() {
		res.Previous = prev.String()
	}
	res.Cloned = prev.IsZero()
	if err := s.waitIndexLock(ctx, wc, jl); err != nil {
		return res, err
	}
	commit, err := s.fetchCommit(ctx, wc, t, rem, jl)
	if err != nil {
		return res, err
	}
	tracked, err := s.checkout(ctx, wc, t, prev, commit, &res, jl)
	if err != nil {
		return res, err
	}
	if err := setHead(wc, t.Ref, commit); err != nil {
		return res, err
	}
	res.Commit = commit.String()
	if t.Clean {
		if res.Cleaned, err = clean(wc.path, tracked, jl); err != nil {
			return res, fmt.Errorf("clean %s: %w", wc.path, err)
		}
	}
	if t.Submodules {
		if err := s.updateSubmodules(ctx, wc, rem, jl); err != nil {
			return res, err
		}
	}
	done()
	return res, nil
}

// checkout writes the commit's tree and index, reports what it changed,
// and returns the new index entries.
func (s *Syncer) checkout(ctx context.Context, wc *workingCopy, t Target, prev, commit plumbing.Hash,
	res *Result, jl *jobLog) (map[string]*index.Entry, error) {
	co, err := newCheckout(ctx, wc, prev, commit, jl)
	if err != nil {
		return nil, fmt.Errorf("checkout %s: %w", short(commit), err)
	}
	err = co.run()
	res.Written, res.Removed, res.Overwritten = co.written, co.removed, co.overwritten
	for _, p := range co.overwritten {
		jl.logger.Warn().Str("path", t.Path).Str("file", p).Str("sha", commit.String()).
			Msg("local change overwritten by checkout")
	}
	if err != nil {
		return nil, fmt.Errorf("checkout %s: %w", short(commit), err)
	}
	from := "empty working copy"
	if !prev.IsZero() {
		from = short(prev)
	}
	jl.printf("checkout %s from %s: %d written, %d removed", short(commit), from, co.written, co.removed)
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
	name := plumbing.ReferenceName(t.Ref)
	if (!name.IsBranch() && !name.IsTag()) || !validRefName(name) {
		errs = append(errs, fmt.Errorf("ref: must be a valid refs/heads/B or refs/tags/T (got %q)", t.Ref))
	}
	if t.Commit != "" && !shaPattern.MatchString(t.Commit) {
		errs = append(errs, fmt.Errorf("commit: must be a full lowercase SHA-1 (got %q)", t.Commit))
	}
	if t.Depth < 0 {
		errs = append(errs, fmt.Errorf("depth: must not be negative (got %d)", t.Depth))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid sync target: %w", err)
	}
	return nil
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
