// Package gitsyncer is the wiring between the runner and gitsync: it maps
// the runner's sync requests (written in the runner's terms) onto gitsync's
// targets, and gitsync's results onto the job's record. It is the only
// place that knows both.
package gitsyncer

import (
	"context"
	"io"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/runner"
)

// Syncer is a gitsync.Syncer seen as the runner's Syncer and Prober.
type Syncer struct{ s *gitsync.Syncer }

var (
	_ runner.Syncer = Syncer{}
	_ runner.Prober = Syncer{}
)

// New returns a Syncer that logs to logger.
func New(logger zerolog.Logger) Syncer { return Syncer{s: gitsync.New(logger)} }

// Sync brings req.Path to the commit req asks for.
func (s Syncer) Sync(ctx context.Context, req runner.SyncRequest, log io.Writer) (job.SyncResult, error) {
	res, err := s.s.Sync(ctx, Target(req), log)
	return job.SyncResult(res), err
}

// Maintain tidies the object store of the working copy at path.
func (s Syncer) Maintain(ctx context.Context, path string, log io.Writer) error {
	return s.s.Maintain(ctx, path, log)
}

// UpkeepDue reports whether the object store at path needs more upkeep
// than a look (see gitsync.Syncer.UpkeepDue).
func (s Syncer) UpkeepDue(path string) bool { return s.s.UpkeepDue(path) }

// Head asks the remote which commit req's ref points at.
func (s Syncer) Head(ctx context.Context, req runner.SyncRequest) (string, error) {
	return s.s.Head(ctx, Target(req))
}

// Target is gitsync's target for req.
func Target(req runner.SyncRequest) gitsync.Target {
	return gitsync.Target{
		Remote: req.Remote, Path: req.Path, Ref: req.Ref, Commit: req.Commit,
		Delivered: req.Delivered, Fallback: req.Fallback,
		Depth: req.Depth, Clean: req.Clean, Submodules: req.Submodules, Timeout: req.Timeout,
		Auth: gitsync.Auth{SSHKeyFile: req.Auth.SSHKeyFile, KnownHostsFile: req.Auth.KnownHostsFile,
			TokenFile: req.Auth.TokenFile, Username: req.Auth.Username, Token: req.Token},
	}
}
