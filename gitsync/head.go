package gitsync

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Head asks t.Remote which commit t.Ref points at, without fetching
// anything and without touching the working copy (git ls-remote).
func (s *Syncer) Head(ctx context.Context, t Target) (string, error) {
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	rem, err := s.newRemote(ctx, t)
	if err != nil {
		return "", scrub(err, rem.secretList())
	}
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: originName, URLs: []string{rem.url}})
	refs, err := r.ListContext(ctx, &git.ListOptions{Auth: rem.auth, ProxyOptions: rem.proxy})
	if err != nil {
		return "", scrub(fmt.Errorf("list refs of %s: %w", rem.url, err), rem.secretList())
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.ReferenceName(t.Ref) && ref.Type() == plumbing.HashReference {
			return ref.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("%s has no %s", redactURL(rem.url), t.Ref)
}
