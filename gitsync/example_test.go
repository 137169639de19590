package gitsync_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/wh-gitd/wh-gitd/gitsync"
)

// A runner brings the working copy to the pushed commit, then runs its
// commands in it. (Compiled, not run: it needs a real remote.)
func ExampleSyncer_Sync() {
	s := gitsync.New(zerolog.New(os.Stderr))
	res, err := s.Sync(context.Background(), gitsync.Target{
		Remote:  "https://git.example.com/acme/site.git",
		Path:    "/srv/www/site",
		Ref:     "refs/heads/main",
		Commit:  "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		Depth:   1,
		Auth:    gitsync.Auth{TokenFile: "/etc/wh-gitd/site.token", Username: "x-access-token"},
		Timeout: 5 * time.Minute,
	}, os.Stdout)
	if err != nil {
		fmt.Println("sync site:", err)
		return
	}
	fmt.Println("site is at", res.Commit)
}
