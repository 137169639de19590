package gitsync

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// The daemon's log lines carry the deployed commit as "commit", since the
// caller's logger already has "sha" (the delivered commit), and durations
// in milliseconds as "_ms" fields: no key appears twice in a line.
func TestLogFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.staleLock = 0
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	f.sync(t, f.target())
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	put(t, filepath.Join(f.path, "a"), "local edit")
	put(t, filepath.Join(f.path, ".git", "index.lock"), "")
	var buf bytes.Buffer
	logger := zerolog.New(&buf).With().Str("sha", "delivered").Logger()
	if _, err := f.s.Sync(logger.WithContext(context.Background()), f.target(), nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"working copy synced":                  `"commit":"` + sha + `"`,
		"local change overwritten by checkout": `"commit":"` + sha + `"`,
		"removed stale index.lock":             `"age_ms":`,
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(line, `"sha":`); n != 1 {
			t.Errorf("%d sha fields in %s", n, line)
		}
		for msg, field := range want {
			if strings.Contains(line, `"message":"`+msg+`"`) {
				if !strings.Contains(line, field) {
					t.Errorf("line lacks %s: %s", field, line)
				}
				delete(want, msg)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("lines missing: %v\n%s", want, buf.String())
	}
}
