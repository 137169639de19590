package gitsync

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// commitLine returns the first line of commit's message and its author's
// name, or empty strings when the commit cannot be read.
func commitLine(wc *workingCopy, commit plumbing.Hash) (subject, author string) {
	c, err := wc.repo.CommitObject(commit)
	if err != nil {
		return "", ""
	}
	subject, _, _ = strings.Cut(strings.TrimSpace(c.Message), "\n")
	return strings.TrimSpace(subject), c.Author.Name
}
