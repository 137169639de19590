package gitsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Head asks t.Remote which commit t.Ref points at, without fetching
// anything and without touching the working copy (git ls-remote). A tag is
// peeled to its commit; a short name is resolved as git does.
func (s *Syncer) Head(ctx context.Context, t Target) (string, error) {
	if t.Ref == "" {
		return "", errors.New("ask for a head: no ref given")
	}
	ctx, cancel, rem, err := s.begin(ctx, t)
	defer cancel()
	if err != nil {
		return "", err
	}
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: originName, URLs: []string{rem.url}})
	refs, err := r.ListContext(ctx, &git.ListOptions{Auth: rem.auth, ProxyOptions: rem.proxy,
		PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", scrub(fmt.Errorf("list refs of %s: %w", rem.url, err), rem.secretList())
	}
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, ref := range refs {
		byName[ref.Name()] = ref
	}
	for _, name := range candidates(t.Ref) {
		for _, n := range []plumbing.ReferenceName{name + "^{}", name} {
			ref, ok := byName[n]
			if ok && ref.Type() == plumbing.SymbolicReference { // HEAD
				ref, ok = byName[ref.Target()]
			}
			if ok && ref.Type() == plumbing.HashReference {
				return ref.Hash().String(), nil
			}
		}
	}
	return "", fmt.Errorf("%s has no %s", redactURL(rem.url), t.Ref)
}

// candidates are the names a ref may stand for, in git's order.
func candidates(ref string) []plumbing.ReferenceName {
	if strings.HasPrefix(ref, "refs/") {
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	out := make([]plumbing.ReferenceName, 0, len(plumbing.RefRevParseRules))
	for _, rule := range plumbing.RefRevParseRules {
		out = append(out, plumbing.ReferenceName(fmt.Sprintf(rule, ref)))
	}
	return out
}
