package settings_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// Load reads the file, then the WH_GITD_* overrides of the environment (here
// injected; os.Environ() in production), fills defaults and validates.
func ExampleLoad() {
	s, err := settings.Load("../settings.example.yaml", []string{
		"WH_GITD_REPOS__SITE__SECRET=from-the-service-environment",
		"WH_GITD_LOG__LEVEL=debug",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "wh-gitd:", err)
		return
	}
	site, _ := s.Repo("site")
	fmt.Println("listen:", s.Listen, "log level:", s.Log.Level)
	fmt.Println("repos:", s.RepoNames())
	fmt.Println("endpoint: /hooks/" + site.Name)
	for _, c := range site.Branches["main"].Commands {
		if c.Shell != "" {
			fmt.Printf("sh -c %q\n", c.Shell)
		} else {
			fmt.Printf("exec %q\n", c.Argv)
		}
	}
	// Output:
	// listen: 127.0.0.1:9000 log level: debug
	// repos: [site]
	// endpoint: /hooks/site
	// sh -c "make build"
	// exec ["systemctl" "restart" "site.service"]
}

// A settings file with mistakes gets one error naming every key at fault.
func ExampleLoad_errors() {
	dir, err := os.MkdirTemp("", "wh-gitd-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	file := dir + "/settings.yaml"
	yaml := `
state_dir: ./state
workers: 0
repos:
  site:
    provider: github
    repository: example/site
    remote: https://github.com/example/site.git
    path: ./site
    branches:
      main:
        commands: [make deploy]
        timeout: -1s
        timout: 1m
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	_, err = settings.Load(file, nil)
	// The first line names the file; then one line per problem.
	_, problems, _ := strings.Cut(err.Error(), "\n")
	fmt.Println(problems)
	// Output:
	// repos.site.branches.main.timeout: must be positive (got -1s)
	// repos.site.branches.main.timout: unknown key
	// repos.site.secret: required: set secret or secret_file (an empty secret turns signature checks off)
	// workers: must be at least 1 (got 0)
}
