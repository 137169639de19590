package gitsync

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// benchFixture is a working copy of 1,000 tracked files in 50 directories,
// with 5,000 ignored files in node_modules/ that a sync must never read.
func benchFixture(b *testing.B, depth int) (*fixture, Target) {
	b.Helper()
	f := newFixture(b)
	tg := f.target()
	tg.Depth = depth
	f.s = New(zerolog.Nop())
	files := map[string]string{".gitignore": "node_modules/\n"}
	for i := range 1000 {
		files[fmt.Sprintf("src/d%02d/file%04d.php", i%50, i)] = fmt.Sprintf("<?php // file %d\n", i)
	}
	f.up.Commit(b, "main", files, "big")
	f.sync(b, tg)
	for i := range 5000 {
		testkit.WriteFile(b, filepath.Join(f.path, "node_modules", fmt.Sprintf("p%03d", i%100), fmt.Sprintf("%d.js", i)), "x")
	}
	f.sync(b, tg) // settles racily clean index entries
	return f, tg
}

// BenchmarkSync measures a no-op and a one-commit incremental sync over a
// file-path remote (read in this process, see fetchLocal), shallow (depth
// 1) and full (depth 0), each followed by the upkeep the runner runs after
// the commands.
func BenchmarkSync(b *testing.B) {
	for _, depth := range []int{1, 0} {
		b.Run(fmt.Sprintf("depth%d/noop", depth), func(b *testing.B) {
			f, tg := benchFixture(b, depth)
			for b.Loop() {
				syncAndUpkeep(b, f, tg)
			}
		})
		b.Run(fmt.Sprintf("depth%d/incremental", depth), func(b *testing.B) {
			f, tg := benchFixture(b, depth)
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				f.up.Commit(b, "main", map[string]string{
					fmt.Sprintf("src/d%02d/file%04d.php", n%50, n%1000): fmt.Sprint("changed ", n),
					fmt.Sprintf("src/new/%d.php", n):                    "new",
				}, "change")
				b.StartTimer()
				syncAndUpkeep(b, f, tg)
			}
		})
	}
}

func syncAndUpkeep(b *testing.B, f *fixture, tg Target) {
	if _, err := f.s.Sync(context.Background(), tg, nil); err != nil {
		b.Fatal(err)
	}
	if err := f.s.Maintain(context.Background(), tg.Path, nil); err != nil {
		b.Fatal(err)
	}
}
