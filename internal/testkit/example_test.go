package testkit_test

import (
	"fmt"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// A File renders to the settings.yaml it describes; in a test, Load writes
// and loads it.
func ExampleFile() {
	f := testkit.File{Top: "workers: 2", Repos: []testkit.Repo{{
		Provider: settings.GitLab, Remote: "/srv/git/site.git", Extra: "shared_path: true",
		Branches: []testkit.Target{{Commands: []string{"make deploy"}, Env: map[string]string{"STAGE": "prod"}, Timeout: "2m"},
			{Name: "dev", YAML: "{commands: [[make, dev]]}"}},
	}}}
	fmt.Print(f)
	// Output:
	// listen: "127.0.0.1:0"
	// state_dir: "state"
	// workers: 2
	// repos:
	//   "site":
	//     provider: "gitlab"
	//     repository: "acme/site"
	//     remote: "/srv/git/site.git"
	//     path: "wc-site"
	//     secret: "testkit-secret-0123456789"
	//     shared_path: true
	//     branches:
	//       "main":
	//         commands:
	//           - "make deploy"
	//         env:
	//           "STAGE": "prod"
	//         timeout: 2m
	//       "dev": {commands: [[make, dev]]}
}
