package gitsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// updateSubmodules initialises and updates every submodule (recursively)
// with go-git, to the commits the checked-out index records. Credentials
// are only sent to submodules on the remote's own host.
func (s *Syncer) updateSubmodules(ctx context.Context, wc *workingCopy, rem *remote, jl *jobLog) error {
	wt, err := wc.repo.Worktree()
	if err != nil {
		return fmt.Errorf("open worktree for submodules: %w", err)
	}
	subs, err := wt.Submodules()
	if err != nil {
		return fmt.Errorf("read .gitmodules: %w", err)
	}
	for _, sub := range subs {
		cfg := sub.Config()
		var auth transport.AuthMethod
		if sameHost(cfg.URL, rem.host) {
			auth = rem.auth
		}
		to := ""
		if st, err := sub.Status(); err == nil && !st.Expected.IsZero() {
			to = " to " + short(st.Expected)
		}
		jl.printf("update submodule %s%s from %s", cfg.Path, to, redactURL(cfg.URL))
		err := sub.UpdateContext(ctx, &git.SubmoduleUpdateOptions{
			Init:              true,
			Auth:              auth,
			RecurseSubmodules: git.DefaultSubmoduleRecursionDepth,
		})
		if err != nil {
			return fmt.Errorf("update submodule %s: %w", cfg.Path, err)
		}
	}
	return nil
}

// sameHost reports whether a submodule URL points at host (relative URLs
// are resolved against the remote, so they do).
func sameHost(url, host string) bool {
	if strings.HasPrefix(url, "./") || strings.HasPrefix(url, "../") {
		return true
	}
	ep, err := transport.NewEndpoint(url)
	return err == nil && strings.EqualFold(ep.Host, host)
}
