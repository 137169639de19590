package gitsync

import "testing"

// A sync names the commit it checked out by its subject (the message's
// first line) and its author, for the job's record.
func TestResultNamesTheCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "  Fix the header\n\nA longer body.\n")
	res, _ := f.sync(t, f.target())
	if res.Subject != "Fix the header" || res.Author != "gitsynctest" {
		t.Errorf("subject %q, author %q", res.Subject, res.Author)
	}
}
